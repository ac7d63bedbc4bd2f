"""Krippendorff's alpha for inter-annotator agreement, missing values allowed.

alpha = 1 - D_o / D_e, where D_o is the disagreement observed among values given to the same
unit and D_e the disagreement expected if the same values were paired at random. Units with
fewer than two values carry no information about agreement and are left out (Krippendorff,
"Computing Krippendorff's Alpha-Reliability", 2011).

For SEAL's 5-point preference the values must be oriented the same way for every annotator of
a comparison (say +2 = the task's model A much better), not by the left/right order that
annotator happened to see.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import _json
from .data import FloatArray
from .errors import StatsInputError

Level: TypeAlias = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True)
class AgreementResult:
    """Krippendorff's alpha with its parts; alpha is None when every value is the same."""

    alpha: float | None
    level: Level
    observed_disagreement: float
    expected_disagreement: float
    n_units: int
    n_values: int

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict."""
        result = asdict(self)
        result["alpha"] = _json.number(self.alpha)
        return result


def krippendorff_alpha(
    reliability_data: npt.ArrayLike,
    *,
    level: Level = "ordinal",
    value_domain: npt.ArrayLike | None = None,
) -> AgreementResult:
    """Krippendorff's alpha of a coders x units matrix of numbers, NaN (or None) where missing."""
    try:
        data = np.asarray(reliability_data, dtype=np.float64)
    except (TypeError, ValueError):
        raise StatsInputError("reliability data must be numbers, with NaN for missing") from None
    if data.ndim != 2:
        raise StatsInputError(f"reliability data must be coders x units, got {data.ndim} dims")
    coders, units = np.nonzero(~np.isnan(data))
    return _alpha_from_pairs(units, data[coders, units], level, value_domain)


def krippendorff_alpha_long(
    units: npt.ArrayLike | pd.Series[Any],
    values: npt.ArrayLike | pd.Series[Any],
    *,
    level: Level = "ordinal",
    value_domain: npt.ArrayLike | None = None,
) -> AgreementResult:
    """Krippendorff's alpha from one entry per (unit, coder) value, e.g. one row per rating."""
    unit_series = pd.Series(units).reset_index(drop=True)
    try:
        value_array = pd.Series(values).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise StatsInputError("values must be numbers, with NaN for missing") from None
    if len(unit_series) != len(value_array):
        raise StatsInputError(
            f"units and values differ in length ({len(unit_series)} vs {len(value_array)})"
        )
    if unit_series.isna().any():
        raise StatsInputError("units has missing values")
    present = ~np.isnan(value_array)
    codes, _ = pd.factorize(unit_series[present])
    return _alpha_from_pairs(np.asarray(codes), value_array[present], level, value_domain)


def _alpha_from_pairs(
    unit_codes: npt.NDArray[np.int64] | npt.NDArray[np.intp],
    values: FloatArray,
    level: Level,
    value_domain: npt.ArrayLike | None,
) -> AgreementResult:
    if level not in LEVELS:
        raise StatsInputError(f"level must be one of {LEVELS}, got {level!r}")
    if value_domain is None:
        domain = np.unique(values)
    else:
        domain = np.unique(np.asarray(value_domain, dtype=np.float64))
        outside = ~np.isin(values, domain)
        if outside.any():
            raise StatsInputError(
                f"values outside the value domain: {sorted(set(values[outside].tolist()))[:5]}"
            )
    if level == "ratio" and (domain < 0).any():
        raise StatsInputError("the ratio metric needs non-negative values")
    n_units = int(unit_codes.max()) + 1 if len(unit_codes) else 0
    value_codes = np.searchsorted(domain, values)
    counts = np.zeros((n_units, len(domain)))
    np.add.at(counts, (unit_codes, value_codes), 1.0)
    per_unit = counts.sum(axis=1)
    pairable = per_unit >= 2
    counts, per_unit = counts[pairable], per_unit[pairable]
    total = float(per_unit.sum())
    if total == 0:
        raise StatsInputError("agreement needs at least one unit with two or more values")
    # Coincidence matrix: o_ck = sum_u (n_uc n_uk - [c == k] n_uc) / (m_u - 1).
    scaled = counts / (per_unit - 1.0)[:, None]
    coincidence = scaled.T @ counts - np.diag(scaled.sum(axis=0))
    marginal = coincidence.sum(axis=1)
    delta = _squared_distance(domain, marginal, level)
    observed = float((coincidence * delta).sum() / total)
    expected = float((np.outer(marginal, marginal) * delta).sum() / (total * (total - 1.0)))
    return AgreementResult(
        alpha=1.0 - observed / expected if expected > 0 else None,
        level=level,
        observed_disagreement=observed,
        expected_disagreement=expected,
        n_units=int(pairable.sum()),
        n_values=int(total),
    )


def _squared_distance(domain: FloatArray, marginal: FloatArray, level: Level) -> FloatArray:
    if level == "nominal":
        return np.asarray(1.0 - np.eye(len(domain)), dtype=np.float64)
    if level == "interval":
        return np.asarray((domain[:, None] - domain[None, :]) ** 2, dtype=np.float64)
    if level == "ratio":
        total = domain[:, None] + domain[None, :]
        difference = domain[:, None] - domain[None, :]
        ratio = np.divide(difference, total, out=np.zeros_like(total), where=total != 0)
        return np.asarray(ratio**2, dtype=np.float64)
    # Ordinal: (sum of n_g for g from c to k, minus (n_c + n_k) / 2) squared, which with
    # cumulative sums is (cum_k - cum_c + (n_c - n_k) / 2)^2 for either order of c and k.
    cumulative = np.cumsum(marginal)
    spread = cumulative[None, :] - cumulative[:, None]
    return np.asarray(
        (spread + (marginal[:, None] - marginal[None, :]) / 2.0) ** 2, dtype=np.float64
    )
