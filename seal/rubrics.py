"""A domain's rubric is data: dimensions with integer scales, issue tags, a justification minimum.

`rubric_parse` is the single gate: the admin form, the services and the seed all pass rubrics
through it, and every problem is reported with the path of the offending field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
MAX_SCALE_POINTS = 10
RUBRIC_KEYS = {"dimensions", "issue_tags", "justification_min_chars"}
DIMENSION_KEYS = {"key", "label", "description", "scale"}
SCALE_KEYS = {"min", "max", "labels"}
TAG_KEYS = {"key", "label", "description"}


@dataclass(frozen=True)
class Scale:
    min: int
    max: int
    labels: dict[int, str]

    def contains(self, value: int) -> bool:
        return self.min <= value <= self.max


@dataclass(frozen=True)
class Dimension:
    key: str
    label: str
    description: str
    scale: Scale


@dataclass(frozen=True)
class IssueTag:
    key: str
    label: str
    description: str


@dataclass(frozen=True)
class Rubric:
    dimensions: tuple[Dimension, ...]
    issue_tags: tuple[IssueTag, ...]
    justification_min_chars: int

    @property
    def dimension_keys(self) -> tuple[str, ...]:
        return tuple(d.key for d in self.dimensions)

    @property
    def issue_tag_keys(self) -> tuple[str, ...]:
        return tuple(t.key for t in self.issue_tags)


class _Errors:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.messages.append(f"{path}: {message}")


def _text(value: Any, path: str, errors: _Errors, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        errors.add(path, "must be a non-empty string" if required else "must be a string")
        return ""
    return value.strip()


def _unknown_keys(data: dict[str, Any], allowed: set[str], path: str, errors: _Errors) -> None:
    for key in sorted(set(data) - allowed):
        errors.add(f"{path}.{key}" if path else key, "unknown field")


def _parse_scale(raw: Any, path: str, errors: _Errors) -> Scale:
    if not isinstance(raw, dict):
        errors.add(path, "must be an object with integer 'min' and 'max'")
        return Scale(0, 0, {})
    _unknown_keys(raw, SCALE_KEYS, path, errors)
    low, high = raw.get("min"), raw.get("max")
    for name, value in (("min", low), ("max", high)):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.add(f"{path}.{name}", "must be an integer")
    if not (isinstance(low, int) and isinstance(high, int)):
        return Scale(0, 0, {})
    if low >= high:
        errors.add(path, f"min ({low}) must be below max ({high})")
    elif high - low + 1 > MAX_SCALE_POINTS:
        errors.add(path, f"at most {MAX_SCALE_POINTS} points, got {high - low + 1}")
    labels: dict[int, str] = {}
    raw_labels = raw.get("labels", {})
    if not isinstance(raw_labels, dict):
        errors.add(f"{path}.labels", "must be an object mapping scale points to text")
        raw_labels = {}
    for point, label in raw_labels.items():
        try:
            number = int(point)
        except (TypeError, ValueError):
            errors.add(f"{path}.labels.{point}", "label keys must be scale points")
            continue
        if not low <= number <= high:
            errors.add(f"{path}.labels.{point}", f"outside the scale {low}..{high}")
        labels[number] = _text(label, f"{path}.labels.{point}", errors)
    return Scale(low, high, labels)


def _parse_keyed_list(raw: Any, path: str, errors: _Errors) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(raw, list):
        errors.add(path, "must be a list")
        return []
    seen: set[str] = set()
    items: list[tuple[str, dict[str, Any]]] = []
    for index, item in enumerate(raw):
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict):
            errors.add(item_path, "must be an object")
            continue
        key = item.get("key")
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            errors.add(f"{item_path}.key", "must be a lowercase identifier (a-z, 0-9, _)")
            continue
        if key in seen:
            errors.add(f"{item_path}.key", f"duplicate key {key!r}")
            continue
        seen.add(key)
        items.append((item_path, item))
    return items


def rubric_parse(data: Any) -> Rubric:
    """Validate rubric data and return it typed; raise ValidationError naming every bad field."""
    errors = _Errors()
    if not isinstance(data, dict):
        raise ValidationError("rubric: must be an object with 'dimensions' and 'issue_tags'")
    _unknown_keys(data, RUBRIC_KEYS, "", errors)

    dimensions: list[Dimension] = []
    for path, item in _parse_keyed_list(data.get("dimensions"), "dimensions", errors):
        _unknown_keys(item, DIMENSION_KEYS, path, errors)
        dimensions.append(
            Dimension(
                key=item["key"],
                label=_text(item.get("label"), f"{path}.label", errors),
                description=_text(
                    item.get("description"), f"{path}.description", errors, required=False
                ),
                scale=_parse_scale(item.get("scale"), f"{path}.scale", errors),
            )
        )
    if isinstance(data.get("dimensions"), list) and not data["dimensions"]:
        errors.add("dimensions", "at least one dimension is required")

    tags: list[IssueTag] = []
    for path, item in _parse_keyed_list(data.get("issue_tags", []), "issue_tags", errors):
        _unknown_keys(item, TAG_KEYS, path, errors)
        tags.append(
            IssueTag(
                key=item["key"],
                label=_text(item.get("label"), f"{path}.label", errors),
                description=_text(
                    item.get("description"), f"{path}.description", errors, required=False
                ),
            )
        )

    minimum = data.get("justification_min_chars", 0)
    if not isinstance(minimum, int) or isinstance(minimum, bool) or not 0 <= minimum <= 5000:
        errors.add("justification_min_chars", "must be an integer from 0 to 5000")
        minimum = 0

    if errors.messages:
        raise ValidationError(errors.messages)
    return Rubric(tuple(dimensions), tuple(tags), minimum)


def validate_rubric(data: Any) -> None:
    """Model-field validator: the admin's form shows rubric_parse's messages."""
    rubric_parse(data)
