"""Exceptions raised by the ranking engine; every input problem is a `StatsInputError`."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence


class StatsInputError(ValueError):
    """The data or the configuration handed to the engine cannot be used as given."""


class InsufficientDataError(StatsInputError):
    """Fewer than two models have enough ratings to be put on a common scale.

    `not_ranked` gives each model that was left out the reason, as the leaderboard would.
    """

    def __init__(self, message: str, *, not_ranked: Mapping[Hashable, str] | None = None) -> None:
        self.not_ranked: dict[Hashable, str] = dict(not_ranked or {})
        super().__init__(message)


class DisconnectedComparisonGraphError(StatsInputError):
    """The comparison graph falls apart into groups never compared with each other.

    Bradley-Terry strengths of two groups that never met are not identified: any
    offset between the groups fits the data equally well, so ranking them on one
    scale would invent a result. `components` lists the groups, largest first.
    """

    def __init__(self, components: Sequence[Sequence[Hashable]]) -> None:
        self.components: tuple[tuple[Hashable, ...], ...] = tuple(
            tuple(group) for group in components
        )
        described = "; ".join(
            f"group {number} ({len(group)} models): {_preview(group)}"
            for number, group in enumerate(self.components, start=1)
        )
        super().__init__(
            f"the comparison graph has {len(self.components)} disconnected groups of models "
            f"that were never compared with each other, so they cannot share one scale: "
            f"{described}"
        )


class StatsConvergenceError(RuntimeError):
    """The Newton solver did not reach its tolerance (should not happen with a positive ridge)."""


def _preview(group: Sequence[Hashable], limit: int = 10) -> str:
    shown = ", ".join(repr(model) for model in group[:limit])
    return shown if len(group) <= limit else f"{shown}, ... ({len(group) - limit} more)"
