"""Accuracy of auto-graded answers with a Wilson score interval, optionally cluster-adjusted."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from .errors import StatsInputError
from .intervals import normal_quantile

AccuracyMethod: TypeAlias = Literal["wilson", "wilson_clustered"]


@dataclass(frozen=True)
class AccuracyResult:
    """Share of correct answers with its interval.

    With clusters (say several answers per prompt), `effective_n` is n divided by the design
    effect, the ratio of the cluster-robust variance of the mean to the binomial one (never
    below 1), and the Wilson interval is computed at that sample size.
    """

    accuracy: float
    lower: float
    upper: float
    n: int
    correct: int
    confidence: float
    method: AccuracyMethod
    effective_n: float
    n_clusters: int | None

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict."""
        return asdict(self)


def wilson_interval(successes: float, n: float, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (n may be an effective, fractional n)."""
    if not (math.isfinite(n) and n > 0):
        raise StatsInputError(f"n must be positive, got {n!r}")
    if not (math.isfinite(successes) and 0 <= successes <= n):
        raise StatsInputError(f"successes must lie between 0 and n={n}, got {successes!r}")
    if not 0 < confidence < 1:
        raise StatsInputError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    z = normal_quantile(confidence)
    share = successes / n
    z2n = z * z / n
    centre = (share + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(share * (1.0 - share) / n + z2n / (4.0 * n)) / (1.0 + z2n)
    # At 0 or n successes the exact bound is 0 or 1; do not let rounding say otherwise.
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return lower, upper


def accuracy_interval(
    correct: npt.ArrayLike | pd.Series[Any],
    *,
    clusters: npt.ArrayLike | pd.Series[Any] | None = None,
    confidence: float = 0.95,
) -> AccuracyResult:
    """Accuracy of 0/1 (or bool) grades with a Wilson interval, cluster-adjusted if given."""
    try:
        graded = pd.Series(correct).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise StatsInputError("correct must hold 0/1 or booleans") from None
    if graded.ndim != 1 or len(graded) == 0:
        raise StatsInputError("correct must be a non-empty one-dimensional sequence")
    if not np.isin(graded, (0.0, 1.0)).all():
        raise StatsInputError("correct must hold only 0/1 or booleans (no missing values)")
    n = len(graded)
    hits = float(graded.sum())
    share = hits / n
    effective_n = float(n)
    n_clusters: int | None = None
    method: AccuracyMethod = "wilson"
    if clusters is not None:
        cluster_series = pd.Series(clusters).reset_index(drop=True)
        if len(cluster_series) != n:
            raise StatsInputError(f"clusters has {len(cluster_series)} entries, correct has {n}")
        if cluster_series.isna().any():
            raise StatsInputError("clusters has missing values")
        codes, uniques = pd.factorize(cluster_series)
        n_clusters = len(uniques)
        method = "wilson_clustered"
        effective_n = _effective_n(np.asarray(codes), graded, n_clusters)
    lower, upper = wilson_interval(share * effective_n, effective_n, confidence=confidence)
    return AccuracyResult(
        accuracy=share,
        lower=lower,
        upper=upper,
        n=n,
        correct=int(hits),
        confidence=confidence,
        method=method,
        effective_n=effective_n,
        n_clusters=n_clusters,
    )


def _effective_n(
    codes: npt.NDArray[np.intp], graded: npt.NDArray[np.float64], groups: int
) -> float:
    n = len(graded)
    share = float(graded.mean())
    # Both variances carry the same small-sample factor (n/(n-1) and G/(G-1)), so clusters of
    # one answer each give a design effect of exactly 1.
    binomial = share * (1.0 - share) / (n - 1) if n > 1 else 0.0
    if groups < 2 or binomial == 0:
        # Nothing to estimate a design effect from: all answers agree, or one cluster only.
        return float(n)
    sizes = np.bincount(codes, minlength=groups)
    hits = np.bincount(codes, weights=graded, minlength=groups).astype(np.float64)
    robust = groups / (groups - 1) * float(((hits - share * sizes) ** 2).sum()) / n**2
    design_effect = max(1.0, robust / binomial)
    return n / design_effect
