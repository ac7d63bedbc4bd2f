"""The generation parameters a model version's endpoint may be sent, and their bounds.

`generation_params_problems` is the single rule: the API's service (model_version_create) reports
its problems per parameter, and ModelVersion.generation_params carries it as a field validator so
the admin's form refuses what the API refuses, by the same words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

GENERATION_PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "temperature": (int, float),
    "top_p": (int, float),
    "max_tokens": (int,),
    "seed": (int,),
    "presence_penalty": (int, float),
    "frequency_penalty": (int, float),
    "stop": (list,),
}
GENERATION_PARAM_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "max_tokens": (1, 1_000_000),
    "seed": (-(2**63), 2**63 - 1),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
}


def generation_params_problems(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """What is wrong with each parameter, by its name; empty when they may all be sent."""
    errors: dict[str, list[str]] = {}
    for key, value in params.items():
        allowed = GENERATION_PARAM_TYPES.get(key)
        if allowed is None:
            errors[key] = [
                f"unknown parameter (allowed: {', '.join(sorted(GENERATION_PARAM_TYPES))})"
            ]
        elif isinstance(value, bool) or not isinstance(value, allowed):
            errors[key] = ["wrong type"]
        elif key in GENERATION_PARAM_RANGES:
            low, high = GENERATION_PARAM_RANGES[key]
            if not (math.isfinite(value) and low <= value <= high):
                errors[key] = [f"must be between {low} and {high}"]
        elif key == "stop" and (
            len(value) > 4
            or not all(isinstance(s, str) and 0 < len(s) <= 100 and "\x00" not in s for s in value)
        ):
            errors[key] = ["at most 4 strings of 1 to 100 characters"]
    return errors


def validate_generation_params(value: Any) -> None:
    """Model-field validator: the problems generation_params_problems names, each with its key."""
    if not isinstance(value, dict):
        raise ValidationError("Generation parameters must be a JSON object, e.g. {}")
    problems = generation_params_problems(value)
    if problems:
        raise ValidationError(
            [f"{key}: {message}" for key, messages in problems.items() for message in messages]
        )
