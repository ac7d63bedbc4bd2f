"""What the chart SVGs say: date ticks a reader can read, interval text big enough at its size.

The SVGs keep their text as <text> elements (svg.fonttype "none"), so the tick labels and font
sizes are read straight from the XML. How big the interval chart is shown in a real page is
measured in Chromium by tests/e2e/test_pages_in_browser.py.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from leaderboards.charts import (
    HistorySeries,
    IntervalRow,
    history_svg,
    intervals_svg,
    win_rates_svg,
)

SVG = "{http://www.w3.org/2000/svg}"
# Every level ConciseDateFormatter may print with leaderboards.charts' formats.
TICK_FORMATS = ("%Y", "%b %Y", "%d %b", "%H:%M", "%H:%M:%S")
OFFSET_FORMATS = ("%Y", "%b %Y", "%d %b %Y")
# A fraction of a second as matplotlib writes it ("04.600000") or any run of six digits.
FRACTION = re.compile(r"\d\.\d|\d{6}")
CSS_PX_PER_PT = 4 / 3
READABLE_PX = 11


def svg_root(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode())  # noqa: S314 (matplotlib's own output, not user input)


def _texts(group: ET.Element) -> list[str]:
    return ["".join(text.itertext()).strip() for text in group.iter(f"{SVG}text")]


def x_axis_labels(svg: str) -> tuple[list[str], list[str]]:
    """The x tick labels, and the axis's other text (ConciseDateFormatter's offset)."""
    root = svg_root(svg)
    axis = next(g for g in root.iter(f"{SVG}g") if g.get("id") == "matplotlib.axis_1")
    ticks = [
        label
        for group in axis.findall(f"{SVG}g")
        if (group.get("id") or "").startswith("xtick_")
        for label in _texts(group)
        if label
    ]
    others = [
        label
        for group in axis.findall(f"{SVG}g")
        if not (group.get("id") or "").startswith("xtick_")
        for label in _texts(group)
        if label
    ]
    return ticks, others


def parses(text: str, formats: tuple[str, ...]) -> bool:
    for fmt in formats:
        try:
            datetime.strptime(text, fmt)
        except ValueError:
            continue
        return True
    return False


def series(start: datetime, span: timedelta, points: int = 3) -> list[HistorySeries]:
    dates = [start + span * k / max(points - 1, 1) for k in range(points)]
    return [
        HistorySeries(
            label="Coding",
            dates=dates,
            elo=[1000.0 + 10 * k for k in range(points)],
            lower=[990.0 + 10 * k for k in range(points)],
            upper=[1010.0 + 10 * k for k in range(points)],
        )
    ]


# The demo publishes its snapshots seconds apart: the old axis read "58:04.600000".
START = datetime(2026, 12, 1, 10, 58, 4, 600000, tzinfo=UTC)


@pytest.mark.parametrize(
    "span",
    [
        timedelta(0),
        timedelta(seconds=3),
        timedelta(minutes=20),
        timedelta(hours=5),
        timedelta(days=3),
        timedelta(days=40),
        timedelta(days=800),
    ],
    ids=["one-moment", "seconds", "minutes", "hours", "days", "weeks", "years"],
)
def test_history_ticks_read_as_dates_without_fractions_of_a_second(span):
    ticks, others = x_axis_labels(history_svg(series(START, span)))

    assert len(ticks) >= 2, ticks
    assert not [label for label in ticks + others if FRACTION.search(label)], (ticks, others)
    assert all(parses(label, TICK_FORMATS) for label in ticks), ticks
    assert all(parses(label, OFFSET_FORMATS) for label in others), others
    if span < timedelta(days=1):
        # Clock times alone would not say which day: the offset under the axis does.
        assert others == ["01 Dec 2026"], others


def test_history_without_snapshots_still_draws():
    svg = history_svg([])
    assert "Not ranked yet" in svg


def font_sizes(svg: str) -> list[float]:
    return [float(size) for size in re.findall(r"font-size: ([0-9.]+)px", svg)]


def test_interval_text_reads_at_eleven_css_px_at_the_charts_own_size():
    """leaderboards.css shows the chart at its own size (never stretched or shrunk on a desktop),
    where one unit of the viewBox is one point."""
    svg = intervals_svg(
        [
            IntervalRow(f"Helios large-2026-{k:02d}", 1100 - 30 * k, 1060 - 30 * k, 1140 - 30 * k)
            for k in range(12)
        ],
        title="Coding",
    )
    root = svg_root(svg)
    width_pt = float(root.get("width", "").removesuffix("pt"))
    viewbox_width = float(root.get("viewBox", "").split()[2])
    shown_px = width_pt * CSS_PX_PER_PT
    smallest = min(font_sizes(svg))

    assert smallest * shown_px / viewbox_width >= READABLE_PX
    # Narrow enough to be shown at that size in the board's main column at 1280 px (890 px).
    assert shown_px <= 890


def test_charts_drawn_at_once_in_threads_keep_their_own_settings():
    """A threaded server draws a board's two charts at the same moment (both <img> load at once)."""
    rows = [
        IntervalRow(f"Model {k}", 1000.0 - 20 * k, 960.0 - 20 * k, 1040.0 - 20 * k)
        for k in range(5)
    ]
    matrix = [[None if i == j else 0.5 for j in range(5)] for i in range(5)]
    jobs = [
        (lambda: intervals_svg(rows))
        if k % 2
        else (lambda: win_rates_svg([r.label for r in rows], matrix))
        for k in range(24)
    ]

    with ThreadPoolExecutor(max_workers=6) as pool:
        drawn = list(pool.map(lambda job: job(), jobs))

    for k, svg in enumerate(drawn):
        sizes = set(font_sizes(svg))
        # Text stays text (svg.fonttype "none"), at each chart's own sizes.
        assert "Model 4" in svg, k
        assert min(sizes) >= (10 if k % 2 else 7.5), (k, sizes)


def _rects(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if rect.get("fill", "").startswith("#")]


def test_the_win_rate_heat_map_draws_every_known_cell_in_its_colour_and_every_name():
    n = 50
    labels = [f"Lab <{k % 10}> & model-{k:02d}" for k in range(n)]  # markup stays text
    matrix = [
        [None if i == j or (i + j) % 7 == 0 else ((i * 31 + j * 17) % 101) / 100 for j in range(n)]
        for i in range(n)
    ]
    matrix[0][1], matrix[1][0] = 0.0, 1.0

    root = svg_root(win_rates_svg(labels, matrix))

    known = sum(cell is not None for row in matrix for cell in row)
    cells = [rect for rect in _rects(root) if rect.get("fill") != "#ffffff"]
    assert len(cells) == known
    by_place = {(float(r.get("y", "")), float(r.get("x", ""))): r.get("fill") for r in cells}
    top, left = min(y for y, _ in by_place), min(x for _, x in by_place)
    size = float(cells[0].get("width", ""))
    # RdBu's ends: a row model that lost every point is dark red, one that won every point blue.
    assert by_place[(top, left + size)] == "#67001f"
    assert by_place[(top + size, left)] == "#053061"
    texts = _texts(root)
    assert all(texts.count(label) == 2 for label in labels)  # row and column
    assert "row model's win rate against column model" in texts


def test_a_small_heat_map_writes_each_win_rate_in_its_cell():
    labels = ["Alpha 1", "Beta 2", "Gamma 3"]
    matrix = [[None, 0.25, 0.9], [0.75, None, None], [0.1, None, None]]

    texts = _texts(svg_root(win_rates_svg(labels, matrix)))

    assert sorted(t for t in texts if t.startswith("0.") and len(t) == 4) == [
        "0.10",
        "0.25",
        "0.75",
        "0.90",
    ]


def test_the_interval_chart_draws_each_model_in_order_with_its_interval():
    rows = [
        IntervalRow(f"Model {k}", 1200.0 - 40 * k, 1170.0 - 40 * k, 1230.0 - 40 * k)
        for k in range(8)
    ]

    root = svg_root(intervals_svg(rows, title="Coding"))

    dots = [float(c.get("cx", "")) for c in root.iter(f"{SVG}circle")]
    heights = [float(c.get("cy", "")) for c in root.iter(f"{SVG}circle")]
    assert len(dots) == 8 and dots == sorted(dots, reverse=True)  # best (highest Elo) first
    assert heights == sorted(heights)  # ... at the top
    texts = _texts(root)
    assert [t for t in texts if t.startswith("Model ")] == [row.label for row in rows]
    assert "Coding" in texts and "Elo (95% interval, prompt bootstrap)" in texts
    ticks = [int(t) for t in texts if t.isdigit()]
    assert len(ticks) >= 3 and min(ticks) >= 900 and max(ticks) <= 1250
