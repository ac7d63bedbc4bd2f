"""Forms of the workspaces: built from the domain's rubric; the services validate again."""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms import BoundField

from annotation.services import RatingInput
from scales.preference import Preference
from seal.rubrics import Dimension, Rubric

# Screen terms: "A" is the answer on the left. Keys 1-5 pick these in order.
SCREEN_PREFERENCES = [(str(point.value), point.label) for point in Preference]


class RatingForm(forms.Form):
    preference = forms.TypedChoiceField(
        choices=SCREEN_PREFERENCES,
        coerce=int,
        empty_value=None,
        widget=forms.RadioSelect,
        required=False,
    )
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        help_text="Why is one answer better? Point at specifics.",
    )

    def __init__(self, *args: Any, rubric: Rubric, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rubric = rubric
        for dimension in rubric.dimensions:
            # Radio groups, not dropdowns: one tab stop per group, arrow or number keys inside.
            choices = [
                (str(point), str(point))
                for point in range(dimension.scale.min, dimension.scale.max + 1)
            ]
            for side in ("left", "right"):
                self.fields[f"score_{side}_{dimension.key}"] = forms.TypedChoiceField(
                    choices=choices,
                    coerce=int,
                    required=False,
                    empty_value=None,
                    label=dimension.label,
                    widget=forms.RadioSelect,
                )
        tag_choices = [(tag.key, tag.label) for tag in rubric.issue_tags]
        for side in ("left", "right"):
            self.fields[f"tags_{side}"] = forms.MultipleChoiceField(
                choices=tag_choices, required=False, widget=forms.CheckboxSelectMultiple
            )

    def dimension_rows(self) -> list[tuple[Dimension, BoundField, BoundField]]:
        """Each rubric dimension with its two score fields (answer A's, answer B's)."""
        return [
            (dimension, self[f"score_left_{dimension.key}"], self[f"score_right_{dimension.key}"])
            for dimension in self.rubric.dimensions
        ]

    def rating_input(self) -> RatingInput:
        data = self.cleaned_data
        return RatingInput(
            preference=data.get("preference"),
            scores_left={d.key: data.get(f"score_left_{d.key}") for d in self.rubric.dimensions},
            scores_right={d.key: data.get(f"score_right_{d.key}") for d in self.rubric.dimensions},
            tags_left=list(data.get("tags_left") or []),
            tags_right=list(data.get("tags_right") or []),
            justification=data.get("justification") or "",
        )

    def add_service_errors(self, field_errors: dict[str, list[str]]) -> None:
        for name, messages in field_errors.items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", "Approve"), ("reject", "Reject")], widget=forms.RadioSelect
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Required when rejecting; the annotator sees it.",
    )

    def clean(self) -> dict[str, Any] | None:
        # Refused here, before any service call, so the page comes back as the reviewer left it.
        data = super().clean() or {}
        if data.get("decision") == "reject" and not data.get("reason"):
            self.add_error("reason", "Say why the rating is rejected; the annotator sees it")
        return data
