"""The 5-point overall preference of a comparison: one declaration for every user of the scale.

Values are in the comparison's own terms, positive for response A; on the rating screen "A" is
the answer shown on the left (annotation/services/rating.py turns one into the other). Django
choices, the screen's options and the stats core's value domain are derived from it.
"""

from __future__ import annotations

from enum import IntEnum


class Preference(IntEnum):
    """An overall preference, declared in screen order: keys 1-5 pick these in turn."""

    A_MUCH_BETTER = 2
    A_BETTER = 1
    TIE = 0
    B_BETTER = -1
    B_MUCH_BETTER = -2

    @property
    def label(self) -> str:
        """How the scale names this point, in A/B terms."""
        return _LABELS[self]

    @classmethod
    def ascending(cls) -> tuple[Preference, ...]:
        """The points from B much better to A much better: the scale's ordinal order."""
        return tuple(sorted(cls))


_LABELS = {
    Preference.A_MUCH_BETTER: "A much better",
    Preference.A_BETTER: "A better",
    Preference.TIE: "Tie",
    Preference.B_BETTER: "B better",
    Preference.B_MUCH_BETTER: "B much better",
}

# The allowed values as plain ints, for membership checks on untrusted input.
PREFERENCE_VALUES: tuple[int, ...] = tuple(int(point) for point in Preference.ascending())
