"""Charts of a board as SVG text, drawn by matplotlib (Agg, object API: no pyplot global state).

Text stays text in the SVG (svg.fonttype "none"), which keeps the files small and quick to draw;
ids are salted with a constant so the same board always gives the same bytes. matplotlib's SVG
holds no script; the views serve it as an image anyway.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import matplotlib
import numpy as np
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

matplotlib.use("Agg")

_RC: Any = {
    "svg.fonttype": "none",
    "svg.hashsalt": "seal-leaderboards",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#9aa3ad",
    "axes.labelcolor": "#1b1f24",
    "xtick.color": "#5b6470",
    "ytick.color": "#1b1f24",
}
# rc_context swaps matplotlib's process-wide rcParams: two charts drawn at once in a threaded
# server (runserver, the live test server) would restore each other's settings mid-drawing, and
# one could come out with its text as paths or at the other's font size.
_DRAWING = threading.Lock()
INK = "#1f5fae"
MUTED = "#9aa3ad"
# Annotating every cell of a heatmap is readable (and cheap) only for small boards.
ANNOTATE_MAX_MODELS = 14
# The interval chart is shown at its own size (leaderboards.css, .lb-figure-natural), never
# stretched on a desktop: 11 pt text reads as 14.7 CSS px. On a phone it is shrunk to the column
# (about 330 CSS px at 390 px wide): 310 pt wide keeps that text at 11 CSS px or more. Long model
# names widen it, so that the plot keeps at least INTERVALS_PLOT_MIN_POINTS.
INTERVALS_WIDTH_POINTS = 310.0
INTERVALS_PLOT_MIN_POINTS = 150.0
INTERVALS_FONT_SIZE = 11
# ConciseDateFormatter's own levels, one per tick frequency (years, months, days, hours, minutes,
# seconds), written so that no tick reads as a bare fraction of a second ("58:04.600000").
DATE_FORMATS = ["%Y", "%b %Y", "%d %b", "%H:%M", "%H:%M", "%H:%M:%S"]
DATE_ZERO_FORMATS = ["", "%Y", "%b %Y", "%d %b", "%H:%M", "%H:%M"]
DATE_OFFSET_FORMATS = ["", "", "%Y", "%d %b %Y", "%d %b %Y", "%d %b %Y"]
# Snapshots published seconds apart would otherwise get second (or microsecond) ticks.
HISTORY_MIN_SPAN = timedelta(hours=1)


@dataclass(frozen=True)
class IntervalRow:
    label: str
    elo: float
    lower: float
    upper: float


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    # "tight" grows the canvas to fit long model names and the colour-bar label.
    fig.savefig(
        buffer,
        format="svg",
        bbox_inches="tight",
        pad_inches=0.08,
        metadata={"Date": None, "Creator": None},
    )
    return buffer.getvalue()


# The board charts (intervals, win rates) are written as SVG directly: with matplotlib a 50 x 50
# heat map took about 0.3 s and an interval chart 0.15 s (text layout, tick machinery, and
# bbox_inches="tight" drawing each figure twice), 10 s for a 21-board snapshot. Their layout is
# fixed (rows, a grid of cells), so it is computed here; text widths are estimated from the
# number of characters, generously, since the SVG text is laid out by the browser's own font.
# Units are points: the root's width is in pt and the viewBox has the same numbers, so a font
# size of 10 is shown as 10 pt (13.3 CSS px) when the chart is shown at its own size.
CHAR_WIDTH_EM = 0.6  # an average sans-serif character, rounded up
FONT_FAMILY = "'DejaVu Sans', 'Bitstream Vera Sans', Arial, Helvetica, sans-serif"
TEXT_INK = "#1b1f24"
TICK_INK = "#5b6470"
GRID = "#e6e9ed"
WIN_RATES_FONT_SIZE = 9
WIN_RATES_CELL_FONT_SIZE = 7.5


def _num(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros (short, deterministic)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _text_width(text: str, size: float) -> float:
    return len(text) * CHAR_WIDTH_EM * size


def _text(
    x: float,
    y: float,
    text: str,
    *,
    size: float,
    anchor: str = "start",
    fill: str = TEXT_INK,
    rotate: float = 0,
) -> str:
    transform = f' transform="rotate({_num(rotate)} {_num(x)} {_num(y)})"' if rotate else ""
    return (
        f'<text x="{_num(x)}" y="{_num(y)}"{transform} style="font-size: {_num(size)}px; '
        f'text-anchor: {anchor}; fill: {fill}">{escape(text)}</text>'
    )


def _svg_document(width: float, height: float, title: str, body: list[str]) -> str:
    return "\n".join(
        [
            '<?xml version="1.0" encoding="utf-8" standalone="no"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{_num(width)}pt" '
            f'height="{_num(height)}pt" viewBox="0 0 {_num(width)} {_num(height)}" '
            f'role="img" font-family="{escape(FONT_FAMILY, {chr(34): "&quot;"})}">',
            f"<title>{escape(title)}</title>",
            f'<rect width="{_num(width)}" height="{_num(height)}" fill="#ffffff"/>',
            *body,
            "</svg>",
            "",
        ]
    )


def _nice_ticks(low: float, high: float, target: int = 5) -> tuple[list[float], int]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) inside [low, high], and
    the number of decimals they need."""
    raw = (high - low) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9) + (1 if step / magnitude == 2.5 else 0))
    first = math.ceil(low / step - 1e-9)
    ticks = []
    k = first
    while k * step <= high + step * 1e-9:
        ticks.append(round(k * step, decimals + 2))
        k += 1
    return ticks, decimals


def intervals_svg(rows: Sequence[IntervalRow], *, title: str = "") -> str:
    """Elo with its 95% interval per model, best at the top."""
    size = INTERVALS_FONT_SIZE
    n = len(rows)
    pitch = 22.0
    label_margin = 8 + max((_text_width(row.label, size) for row in rows), default=40)
    width = max(INTERVALS_WIDTH_POINTS, label_margin + INTERVALS_PLOT_MIN_POINTS)
    left, right = label_margin, width - 10
    top = 10 + (size + 8 if title else 0)
    bottom = top + pitch * max(n, 1)
    height = bottom + 2 * size + 18
    values = [v for row in rows for v in (row.lower, row.upper, row.elo)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad

    def x_of(value: float) -> float:
        return left + (value - low) / (high - low) * (right - left)

    x_label = "Elo (95% interval, prompt bootstrap)"
    body: list[str] = []
    if title:
        body.append(_text(left, 10 + size, title, size=size + 1))
    ticks, decimals = _nice_ticks(low, high)
    for tick in ticks:
        x = x_of(tick)
        body.append(
            f'<path d="M{_num(x)} {_num(top)}V{_num(bottom)}" stroke="{GRID}" stroke-width="0.8"/>'
            f'<path d="M{_num(x)} {_num(bottom)}v3.5" stroke="{TICK_INK}" stroke-width="0.8"/>'
        )
        body.append(
            _text(
                x,
                bottom + 5 + size,
                f"{tick:.{decimals}f}",
                size=size,
                anchor="middle",
                fill=TICK_INK,
            )
        )
    body.append(
        f'<path d="M{_num(left)} {_num(top)}V{_num(bottom)}H{_num(right)}" fill="none" '
        f'stroke="{MUTED}" stroke-width="0.8"/>'
    )
    for index, row in enumerate(rows):
        y = top + pitch * (index + 0.5)
        body.append(
            f'<path d="M{_num(x_of(row.lower))} {_num(y)}H{_num(x_of(row.upper))}" '
            f'stroke="{INK}" stroke-width="2.2" stroke-opacity="0.55"/>'
            f'<circle cx="{_num(x_of(row.elo))}" cy="{_num(y)}" r="2.6" fill="{INK}"/>'
        )
        body.append(_text(left - 6, y + size * 0.35, row.label, size=size, anchor="end"))
    body.append(
        _text(
            min((left + right) / 2, width - 4 - _text_width(x_label, size) / 2),
            bottom + 2 * size + 12,
            x_label,
            size=size,
            anchor="middle",
        )
    )
    return _svg_document(width, height, title or "Elo with 95% intervals", body)


def win_rates_svg(labels: Sequence[str], matrix: Sequence[Sequence[float | None]]) -> str:
    """Share of points the row model took from the column model (ties count half)."""
    from matplotlib import colormaps

    n = len(labels)
    values = np.array(
        [[np.nan if cell is None else float(cell) for cell in row] for row in matrix],
        dtype=float,
    ).reshape(n, n)
    annotate = n <= ANNOTATE_MAX_MODELS
    cell = 30.0 if annotate else 14.0
    size = WIN_RATES_FONT_SIZE
    longest = max((_text_width(label, size) for label in labels), default=0.0)
    bar_label = "row model's win rate against column model"
    grid = cell * n
    left = 8 + longest + 6
    top = 8 + max(0.0, (_text_width(bar_label, size) - grid) / 2)
    bar_x = left + grid + 10
    width = bar_x + 10 + 6 + _text_width("0.0", size) + 8 + size + 8
    height = top + grid + 6 + longest * math.sin(math.radians(60)) + 8
    height = max(height, top + grid / 2 + _text_width(bar_label, size) / 2 + 8)

    rgba = colormaps["RdBu"](np.nan_to_num(values, nan=0.5))
    colours = [
        [
            f"#{int(r * 255 + 0.5):02x}{int(g * 255 + 0.5):02x}{int(b * 255 + 0.5):02x}"
            for r, g, b, _ in line
        ]
        for line in rgba
    ]
    body: list[str] = ['<g stroke="#ffffff" stroke-width="1">']
    for i in range(n):
        for j in range(n):
            value = values[i, j]
            if math.isnan(value):
                continue  # no comparison (and the diagonal): left blank
            body.append(
                f'<rect x="{_num(left + j * cell)}" y="{_num(top + i * cell)}" '
                f'width="{_num(cell)}" height="{_num(cell)}" fill="{colours[i][j]}"/>'
            )
    body.append("</g>")
    if annotate:
        for i in range(n):
            for j in range(n):
                value = values[i, j]
                if not math.isnan(value):
                    body.append(
                        _text(
                            left + (j + 0.5) * cell,
                            top + (i + 0.5) * cell + WIN_RATES_CELL_FONT_SIZE * 0.35,
                            f"{value:.2f}",
                            size=WIN_RATES_CELL_FONT_SIZE,
                            anchor="middle",
                            fill="#ffffff" if abs(value - 0.5) > 0.3 else TEXT_INK,
                        )
                    )
    for index, label in enumerate(labels):
        middle = (index + 0.5) * cell
        body.append(_text(left - 6, top + middle + size * 0.35, label, size=size, anchor="end"))
        body.append(
            _text(
                left + middle + size * 0.3,
                top + grid + 6,
                label,
                size=size,
                anchor="end",
                rotate=-60,
            )
        )
    stops = "".join(
        f'<stop offset="{_num(k / 10)}" stop-color="'
        f'#{int(r * 255 + 0.5):02x}{int(g * 255 + 0.5):02x}{int(b * 255 + 0.5):02x}"/>'
        for k, (r, g, b, _) in enumerate(colormaps["RdBu"](np.linspace(1.0, 0.0, 11)))
    )
    body.append(
        f'<defs><linearGradient id="win-rate-scale" x1="0" y1="0" x2="0" y2="1">{stops}'
        f'</linearGradient></defs><rect x="{_num(bar_x)}" y="{_num(top)}" width="10" '
        f'height="{_num(grid)}" fill="url(#win-rate-scale)"/>'
    )
    for k in range(6):
        y = top + grid * (1 - k / 5)
        body.append(
            f'<path d="M{_num(bar_x + 10)} {_num(y)}h3" stroke="{TICK_INK}" stroke-width="0.8"/>'
        )
        body.append(_text(bar_x + 15, y + size * 0.35, f"{k / 5:.1f}", size=size, fill=TICK_INK))
    label_x = bar_x + 15 + _text_width("0.0", size) + 6 + size * 0.7
    body.append(_text(label_x, top + grid / 2, bar_label, size=size, anchor="middle", rotate=90))
    return _svg_document(width, height, "Win rates between models", body)


@dataclass(frozen=True)
class HistorySeries:
    label: str
    dates: Sequence[datetime]
    elo: Sequence[float]
    lower: Sequence[float]
    upper: Sequence[float]


def history_svg(series: Sequence[HistorySeries]) -> str:
    """A model's Elo across published snapshots, one line per board."""
    with _DRAWING, matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.2, 3.2))
        fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.2)
        ax = fig.add_subplot()
        for line in series:
            dates = date2num(list(line.dates))
            (drawn,) = ax.plot(dates, line.elo, "o-", markersize=3.5, label=line.label)
            ax.fill_between(dates, line.lower, line.upper, color=drawn.get_color(), alpha=0.15)
        ax.xaxis_date()
        every_date = [moment for line in series for moment in line.dates]
        if every_date:
            first, last = min(every_date), max(every_date)
            if last - first < HISTORY_MIN_SPAN:
                middle = first + (last - first) / 2
                ax.set_xlim(
                    date2num(middle - HISTORY_MIN_SPAN / 2),
                    date2num(middle + HISTORY_MIN_SPAN / 2),
                )
        locator = AutoDateLocator(minticks=3, maxticks=7)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(
            ConciseDateFormatter(
                locator,
                formats=DATE_FORMATS,
                zero_formats=DATE_ZERO_FORMATS,
                offset_formats=DATE_OFFSET_FORMATS,
            )
        )
        ax.set_ylabel("Elo")
        ax.grid(color="#e6e9ed", linewidth=0.8)
        ax.set_axisbelow(True)
        if series:
            ax.legend(loc="upper left", fontsize=8, frameon=False, ncol=min(4, len(series)))
        else:
            ax.text(0.5, 0.5, "Not ranked yet", ha="center", va="center", transform=ax.transAxes)
        return _svg(fig)
