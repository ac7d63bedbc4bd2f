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
# stretched or shrunk on a desktop: 10 pt text in a 5.6 inch figure reads as 13 CSS px.
INTERVALS_WIDTH_INCHES = 5.6
INTERVALS_FONT_SIZE = 10
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


def _label_margin(labels: Sequence[str], width_inches: float) -> float:
    longest = max((len(label) for label in labels), default=8)
    return min(0.45, (0.12 + 0.065 * longest) / width_inches)


def intervals_svg(rows: Sequence[IntervalRow], *, title: str = "") -> str:
    """Elo with its 95% interval per model, best at the top."""
    with _DRAWING, matplotlib.rc_context({**_RC, "font.size": INTERVALS_FONT_SIZE}):
        n = len(rows)
        height = 0.9 + 0.3 * max(n, 2)
        fig = Figure(figsize=(INTERVALS_WIDTH_INCHES, height))
        left = _label_margin([row.label for row in rows], INTERVALS_WIDTH_INCHES)
        fig.subplots_adjust(left=left, right=0.97, top=1 - 0.42 / height, bottom=0.5 / height)
        ax = fig.add_subplot()
        y = np.arange(n)[::-1]
        elo = np.array([row.elo for row in rows])
        lower = np.array([row.lower for row in rows])
        upper = np.array([row.upper for row in rows])
        ax.hlines(y, lower, upper, color=INK, linewidth=2.2, alpha=0.55)
        ax.plot(elo, y, "o", color=INK, markersize=4.5)
        ax.set_yticks(y, [row.label for row in rows])
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_xlabel("Elo (95% interval, prompt bootstrap)")
        ax.grid(axis="x", color="#e6e9ed", linewidth=0.8)
        ax.set_axisbelow(True)
        if title:
            ax.set_title(title, loc="left", fontsize=INTERVALS_FONT_SIZE + 1)
        return _svg(fig)


def win_rates_svg(labels: Sequence[str], matrix: Sequence[Sequence[float | None]]) -> str:
    """Share of points the row model took from the column model (ties count half)."""
    with _DRAWING, matplotlib.rc_context(_RC):
        n = len(labels)
        values = np.array(
            [[np.nan if cell is None else float(cell) for cell in row] for row in matrix],
            dtype=float,
        ).reshape(n, n)
        size = 2.4 + 0.32 * max(n, 2)
        fig = Figure(figsize=(size + 1.0, size))
        margin = _label_margin(labels, size + 1.0)
        fig.subplots_adjust(left=margin, right=0.9, top=0.97, bottom=margin * (size + 1) / size)
        ax = fig.add_subplot()
        masked = np.ma.masked_invalid(values)
        mesh = ax.pcolormesh(masked, cmap="RdBu", vmin=0.0, vmax=1.0, edgecolors="white")
        ax.set_xticks(np.arange(n) + 0.5, labels, rotation=60, ha="right", rotation_mode="anchor")
        ax.set_yticks(np.arange(n) + 0.5, labels)
        ax.invert_yaxis()
        ax.set_aspect("equal")
        ax.tick_params(length=0)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        if n <= ANNOTATE_MAX_MODELS:
            for i in range(n):
                for j in range(n):
                    if not math.isnan(values[i, j]):
                        ax.text(
                            j + 0.5,
                            i + 0.5,
                            f"{values[i, j]:.2f}",
                            ha="center",
                            va="center",
                            fontsize=7.5,
                            color="white" if abs(values[i, j] - 0.5) > 0.3 else "#1b1f24",
                        )
        colorbar = fig.colorbar(mesh, ax=ax, fraction=0.04, pad=0.02)
        colorbar.set_label("row model's win rate against column model")
        return _svg(fig)


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
