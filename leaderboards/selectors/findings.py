"""The findings shown beside a board: estimates with their intervals, standing shifts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """A mean or a rate with its 95% interval, for display; None where there is nothing."""

    value: float | None
    lower: float | None
    upper: float | None
    percent: bool = False

    def _format(self, number: float) -> str:
        return f"{100 * number:.0f}%" if self.percent else f"{number:.2f}"

    @property
    def text(self) -> str:
        return "—" if self.value is None else self._format(self.value)

    @property
    def range(self) -> str:
        if self.lower is None or self.upper is None:
            return ""
        return f"{self._format(self.lower)}–{self._format(self.upper)}"


@dataclass(frozen=True)
class Finding:
    label: str
    estimate: Estimate
    count: int


@dataclass(frozen=True)
class StandingShift:
    """Category Elo minus overall Elo (centred on the models ranked in both), 95% interval."""

    difference: float
    lower: float | None
    upper: float | None
    mark: str | None

    @property
    def text(self) -> str:
        return f"{self.difference:+.0f}"

    @property
    def range(self) -> str:
        if self.lower is None or self.upper is None:
            return ""
        return f"{self.lower:+.0f} to {self.upper:+.0f}"
