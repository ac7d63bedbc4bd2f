"""Per (prompt, model) totals of approved answers' scores and tags (ApprovedAnswerSums).

Shared by the approval service, the rebuild service and the migration that filled the table.
One answer adds 1 to `answers`, each numeric score to "s:<dimension>" (and 1 to
"c:<dimension>"), and 1 to "t:<tag>" for every distinct tag it carries — what the
recompute's JSON query counts. A row stores its totals as plain numbers, not JSON: `keys`
names them (comma-separated, sorted) and `totals` holds them as big-endian float64, so a
recompute reads them as bytes (unpacking JSON cost as much as the rest of the read).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from seal.rubrics import KEY_PATTERN


def answer_sums_add(sums: dict[str, float], scores: Any, tags: Any) -> None:
    """Add one approved answer's scores and tags to the totals `sums` (in place)."""
    if isinstance(scores, dict):
        for key, value in scores.items():
            # Booleans are not scores (JSON true is not a number to the database either);
            # keys outside the rubric's key pattern can never be asked for.
            if (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and isinstance(key, str)
                and KEY_PATTERN.match(key)
            ):
                sums[f"s:{key}"] = sums.get(f"s:{key}", 0) + value
                sums[f"c:{key}"] = sums.get(f"c:{key}", 0) + 1
    if isinstance(tags, list):
        for tag in {tag for tag in tags if isinstance(tag, str) and KEY_PATTERN.match(tag)}:
            sums[f"t:{tag}"] = sums.get(f"t:{tag}", 0) + 1


def answer_sums_keys(dimensions: Iterable[str], tags: Iterable[str]) -> set[str]:
    """The total names of a rubric: every row of a domain carries them, so rows share a layout."""
    names = {f"{kind}:{key}" for key in dimensions for kind in ("s", "c")}
    return names | {f"t:{key}" for key in tags}


def answer_sums_encode(sums: dict[str, float], names: Iterable[str] = ()) -> tuple[str, bytes]:
    """(keys, totals) of a row: the sorted names and their totals as big-endian float64."""
    layout = sorted(set(sums) | set(names))
    values = [float(sums.get(name, 0)) for name in layout]
    return ",".join(layout), struct.pack(f">{len(values)}d", *values)


def answer_sums_decode(keys: str, totals: bytes) -> dict[str, float]:
    """The totals of a row by name."""
    layout = keys.split(",") if keys else []
    return dict(zip(layout, struct.unpack(f">{len(layout)}d", bytes(totals)), strict=True))
