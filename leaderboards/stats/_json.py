"""Conversions to JSON-native values for the `to_dict()` methods of result objects."""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import numpy as np

from .data import FloatArray


def number(value: float | None) -> float | None:
    """A finite float, or None for missing / NaN / infinite values (JSON has no NaN)."""
    if value is None:
        return None
    converted = float(value)
    return converted if math.isfinite(converted) else None


def matrix(values: FloatArray) -> list[list[float | None]]:
    """A 2-D float array as nested lists, NaN as None."""
    return [[number(float(cell)) for cell in row] for row in np.asarray(values).tolist()]


def identifier(value: Hashable) -> Any:
    """A model id as stored in JSON: ints and strings as they are, anything else as text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return str(value)
    return value
