"""A model's line on a board: EntryRow, the one declaration of its fields (LINE_FIELDS), and the
entries of a board read as lines.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from leaderboards.models import (
    SnapshotEntry,
)
from leaderboards.selectors.findings import Estimate, Finding, StandingShift


def _spread_shown(rank: int | None, lower: int | None, upper: int | None) -> bool:
    """A rank spread is shown unless it is unknown or the rank itself in (nearly) every replica."""
    if lower is None or upper is None:
        return False
    return not (lower == upper == rank)


def _line(help_text: str = "", *, column: bool = True) -> Any:
    """A field of a model's line on a board. `help_text` is its description in the API schema;
    `column`: filled from the SnapshotEntry column of the same name."""
    return dataclasses.field(metadata={"help": help_text, "column": column})


@dataclass(frozen=True)
class EntryRow:
    """A model's line on one board: the one declaration of a line's fields, in their public order.

    The board JSON (EntrySerializer), a lab's results (LabResultSerializer), the CSV and Parquet
    downloads and the `results.published` webhook take their fields, types and descriptions from
    here (`LINE_FIELDS`); `_entry_row` fills it from the SnapshotEntry columns of the same names."""

    model_version_id: int = _line(column=False)
    model: str = _line(column=False)
    lab: str = _line(column=False)
    rank: int | None = _line("By Elo; null when not ranked")
    rank_with_uncertainty: int | None = _line("1 + models whose interval lies wholly above")
    elo: float | None = _line()
    lower: float | None = _line("95% interval, lower end")
    upper: float | None = _line("95% interval, upper end")
    n_ratings: int = _line()
    wins: int = _line()
    ties: int = _line()
    losses: int = _line()
    accuracy: float | None = _line("Auto-graded (math) only")
    accuracy_lower: float | None = _line()
    accuracy_upper: float | None = _line()
    accuracy_n: int | None = _line()
    contaminated: bool = _line("The lab had been sent some of this board's prompts before")
    few_ratings: bool = _line()
    not_ranked_reason: str | None = _line(
        'Why the model has no rank, e.g. "no losses yet"; null if ranked'
    )
    rank_lower: int | None = _line(
        "Rank spread, best end: the 2.5% quantile of the model's rank over the bootstrap replicas"
    )
    rank_upper: int | None = _line(
        "Rank spread, worst end: the 97.5% quantile of its rank over the replicas"
    )
    style_elo: float | None = _line("Style-controlled Elo (length and Markdown held equal)")
    style_lower: float | None = _line("Its 95% interval, lower end")
    style_upper: float | None = _line("Its 95% interval, upper end")
    style_rank: int | None = _line("Rank with uncertainty on the style-controlled view")
    style_rank_lower: int | None = _line("Rank spread on the style-controlled view, best end")
    style_rank_upper: int | None = _line("Rank spread on the style-controlled view, worst end")
    # What experts found (SnapshotEntry.diagnostics); None on entries written before it existed.
    # Not a scalar: the serializers describe its structure themselves.
    findings: dict[str, Any] | None = None

    @property
    def is_ranked(self) -> bool:
        return self.rank is not None

    @property
    def has_spread(self) -> bool:
        """The rank spread is known and says more than the rank: not that rank in every replica."""
        return _spread_shown(self.rank_with_uncertainty, self.rank_lower, self.rank_upper)

    @property
    def style_plus(self) -> float | None:
        if self.style_upper is None or self.style_elo is None:
            return None
        return self.style_upper - self.style_elo

    @property
    def style_minus(self) -> float | None:
        if self.style_lower is None or self.style_elo is None:
            return None
        return self.style_elo - self.style_lower

    @property
    def style_shift(self) -> float | None:
        """Style-controlled Elo minus plain Elo."""
        if self.style_elo is None or self.elo is None:
            return None
        return self.style_elo - self.elo

    @property
    def style_has_spread(self) -> bool:
        return _spread_shown(self.style_rank, self.style_rank_lower, self.style_rank_upper)

    @property
    def finding_scores(self) -> list[Finding]:
        """Mean score per rubric dimension, with its interval, in rubric order."""
        return [
            Finding(
                label=item["label"],
                estimate=Estimate(item["mean"], item["lower"], item["upper"]),
                count=item["n"],
            )
            for item in (self.findings or {}).get("dimensions", [])
        ]

    @property
    def finding_tags(self) -> list[Finding]:
        """Rate of each issue tag on this model's rated answers, highest first; tags seen only."""
        items = [item for item in (self.findings or {}).get("tags", []) if item["count"]]
        items.sort(key=lambda item: (-(item["rate"] or 0.0), item["label"]))
        return [
            Finding(
                label=item["label"],
                estimate=Estimate(item["rate"], item["lower"], item["upper"], percent=True),
                count=item["count"],
            )
            for item in items
        ]

    @property
    def answers_rated(self) -> int:
        return int((self.findings or {}).get("answers", 0))

    @property
    def vs_overall(self) -> StandingShift | None:
        """The category-minus-overall standing (category boards with both ranked), or None."""
        found = (self.findings or {}).get("vs_overall")
        if not found or found.get("difference") is None:
            return None
        return StandingShift(
            difference=found["difference"],
            lower=found["lower"],
            upper=found["upper"],
            mark=found.get("mark"),
        )

    @property
    def plus(self) -> float | None:
        return None if self.upper is None or self.elo is None else self.upper - self.elo

    @property
    def minus(self) -> float | None:
        return None if self.lower is None or self.elo is None else self.elo - self.lower


@dataclass(frozen=True)
class LineField:
    """A scalar field of a board line (EntryRow): its JSON type, nullability and description."""

    name: str
    kind: type
    nullable: bool
    help: str
    column: bool


def _line_fields() -> tuple[LineField, ...]:
    hints = typing.get_type_hints(EntryRow)
    found = []
    for item in dataclasses.fields(EntryRow):
        kinds = set(typing.get_args(hints[item.name])) or {hints[item.name]}
        nullable = type(None) in kinds
        kinds.discard(type(None))
        if len(kinds) == 1 and (kind := kinds.pop()) in (int, float, str, bool):
            found.append(
                LineField(item.name, kind, nullable, item.metadata["help"], item.metadata["column"])
            )
    return tuple(found)


# Every scalar field of a line, in order; the SnapshotEntry columns among them.
LINE_FIELDS = _line_fields()


ENTRY_COLUMNS = tuple(line.name for line in LINE_FIELDS if line.column)


def _entry_row(entry: SnapshotEntry) -> EntryRow:
    model = entry.model_version
    return EntryRow(
        model_version_id=model.pk,
        model=f"{model.name} {model.version}",
        lab=model.lab.name,
        findings=entry.diagnostics,
        **{name: getattr(entry, name) for name in ENTRY_COLUMNS},
    )


def _entries(board_id: int) -> list[EntryRow]:
    entries = (
        SnapshotEntry.objects.filter(board_id=board_id)
        .select_related("model_version__lab")
        .only(
            *ENTRY_COLUMNS,
            "diagnostics",
            "model_version",
            "model_version__name",
            "model_version__version",
            "model_version__lab__name",
        )
        .order_by("position")
    )
    return [_entry_row(entry) for entry in entries]
