"""The leaderboard builder: ratings in, Elo with intervals, ranks and win-rate matrices out."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from . import _json
from .bradley_terry import (
    DEFAULT_MAX_ITERATIONS,
    DEFAULT_RIDGE,
    DEFAULT_TOLERANCE,
    ELO_SCALE,
    WEIGHTINGS,
    Weighting,
    fit_bradley_terry,
    to_elo,
)
from .data import BoolArray, Comparisons, FloatArray, ModelId, sum_by
from .errors import InsufficientDataError, StatsInputError
from .intervals import (
    RESAMPLE_UNITS,
    ResampleUnit,
    bootstrap_strengths,
    normal_quantile,
    percentile_interval,
    sandwich_covariance,
)

IntervalMethod: TypeAlias = Literal["bootstrap", "sandwich"]
INTERVAL_METHODS: tuple[IntervalMethod, ...] = ("bootstrap", "sandwich")

# Bump when the same data and config would give different numbers, so snapshots can say which.
ENGINE_VERSION = "1"


@dataclass(frozen=True)
class RankingConfig:
    """Everything that determines a leaderboard's numbers; stored with each snapshot.

    interval: "bootstrap" (percentile intervals over `replicas` resamples drawn with `seed`)
    or "sandwich" (cluster-robust normal intervals, no randomness). resample: the unit that is
    resampled or clustered, "prompt" (correct when ratings of a prompt are correlated) or
    "rating" (treats every rating as independent; for comparison only). min_ratings: models
    with fewer ratings against other qualifying models are listed but not ranked.
    """

    interval: IntervalMethod = "bootstrap"
    replicas: int = 1000
    seed: int = 0
    resample: ResampleUnit = "prompt"
    weighting: Weighting = "none"
    ridge: float = DEFAULT_RIDGE
    min_ratings: int = 1
    confidence: float = 0.95
    tolerance: float = DEFAULT_TOLERANCE
    max_iterations: int = DEFAULT_MAX_ITERATIONS

    def __post_init__(self) -> None:
        _choice("interval", self.interval, INTERVAL_METHODS)
        _choice("resample", self.resample, RESAMPLE_UNITS)
        _choice("weighting", self.weighting, WEIGHTINGS)
        _whole("replicas", self.replicas, minimum=2)
        _whole("seed", self.seed, minimum=0)
        _whole("min_ratings", self.min_ratings, minimum=1)
        _whole("max_iterations", self.max_iterations, minimum=1)
        _positive("ridge", self.ridge)
        _positive("tolerance", self.tolerance)
        _positive("confidence", self.confidence)
        if self.confidence >= 1:
            raise StatsInputError(f"confidence must be below 1, got {self.confidence!r}")

    def to_dict(self) -> dict[str, Any]:
        """The parameters as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RankingConfig:
        """Rebuild a config saved by `to_dict`, to reproduce a snapshot."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StatsInputError(f"unknown ranking parameters: {unknown}")
        return cls(**dict(data))


@dataclass(frozen=True)
class ModelRanking:
    """One model's line on the leaderboard; the Elo fields are None when it is not ranked."""

    model: ModelId
    rank: int | None
    rank_with_uncertainty: int | None
    elo: float | None
    lower: float | None
    upper: float | None
    standard_error: float | None
    n_ratings: int
    wins: int
    ties: int
    losses: int

    @property
    def ranked(self) -> bool:
        """Whether the model had enough ratings to be ranked."""
        return self.rank is not None

    def to_dict(self) -> dict[str, Any]:
        """This line as a JSON-ready dict."""
        return {
            "model": _json.identifier(self.model),
            "rank": self.rank,
            "rank_with_uncertainty": self.rank_with_uncertainty,
            "elo": _json.number(self.elo),
            "lower": _json.number(self.lower),
            "upper": _json.number(self.upper),
            "standard_error": _json.number(self.standard_error),
            "n_ratings": self.n_ratings,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
        }


@dataclass(frozen=True)
class Diagnostics:
    """How the solver fared: point-fit Newton iterations and bootstrap replicas not converged."""

    fit_iterations: int
    replicas_not_converged: int

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Leaderboard:
    """A complete leaderboard: ranked models first (by rank), then unranked ones by votes.

    The win-rate matrices are indexed by `win_rate_models` (ranked models in rank order):
    entry [r, c] is the share of the row model's points against the column model (ties
    count half) and the fitted probability that it wins; NaN where there is nothing.
    `elo_covariance` (same order as `win_rate_models`) and `elo_replicas` (bootstrap only,
    replicas x models) are kept for callers such as the pair scheduler but not serialised.
    """

    models: tuple[ModelRanking, ...]
    win_rate_models: tuple[ModelId, ...]
    empirical_win_rate: FloatArray
    predicted_win_rate: FloatArray
    separability: float | None
    n_ratings: int
    n_ratings_used: int
    n_prompts: int
    config: RankingConfig
    diagnostics: Diagnostics
    elo_covariance: FloatArray
    elo_replicas: FloatArray | None

    @property
    def ranked(self) -> tuple[ModelRanking, ...]:
        """Only the ranked models, best first."""
        return tuple(line for line in self.models if line.ranked)

    def get(self, model: ModelId) -> ModelRanking:
        """The line of one model."""
        for line in self.models:
            if line.model == model:
                return line
        raise KeyError(model)

    def to_dict(self) -> dict[str, Any]:
        """The whole leaderboard as JSON-ready dicts and lists (NaN becomes None)."""
        return {
            "models": [line.to_dict() for line in self.models],
            "win_rates": {
                "models": [_json.identifier(model) for model in self.win_rate_models],
                "empirical": _json.matrix(self.empirical_win_rate),
                "predicted": _json.matrix(self.predicted_win_rate),
            },
            "separability": _json.number(self.separability),
            "n_ratings": self.n_ratings,
            "n_ratings_used": self.n_ratings_used,
            "n_prompts": self.n_prompts,
            "config": self.config.to_dict(),
            "diagnostics": self.diagnostics.to_dict(),
            "versions": {"engine": ENGINE_VERSION, "numpy": np.__version__},
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per model, in leaderboard order."""
        return pd.DataFrame([asdict(line) for line in self.models])


def rank_models(
    ratings: pd.DataFrame | Comparisons,
    config: RankingConfig | None = None,
    *,
    models: Iterable[ModelId] | None = None,
) -> Leaderboard:
    """Build a leaderboard: Elo, 95% intervals, ranks, vote counts and win-rate matrices.

    `ratings` is either one row per rating (a DataFrame as in `Comparisons.from_ratings`) or a
    `Comparisons` built by any of its constructors, e.g. `Comparisons.from_counts` on rows the
    database grouped by prompt and pair. `models` lists models to show even if they have no
    ratings yet. Models below `config.min_ratings` are listed unranked and left out of the
    fit; if what remains is not connected, DisconnectedComparisonGraphError says which groups.
    """
    config = config or RankingConfig()
    if isinstance(ratings, Comparisons):
        comparisons = ratings if models is None else ratings.with_models(models)
    else:
        comparisons = Comparisons.from_ratings(ratings, models=models)
    tallies = comparisons.tallies()
    qualifying = qualifying_models(comparisons, config.min_ratings)
    if qualifying.sum() < 2:
        raise InsufficientDataError(
            f"{int(qualifying.sum())} of {comparisons.n_models} models have at least "
            f"{config.min_ratings} ratings against other such models; at least two are needed"
        )
    used = comparisons.restrict(qualifying)
    fit = fit_bradley_terry(
        used,
        weighting=config.weighting,
        ridge=config.ridge,
        tolerance=config.tolerance,
        max_iterations=config.max_iterations,
    )
    elo = fit.elo
    replicas: FloatArray | None = None
    not_converged = 0
    if config.interval == "bootstrap":
        draws = bootstrap_strengths(
            used,
            fit,
            replicas=config.replicas,
            seed=config.seed,
            unit=config.resample,
            tolerance=config.tolerance,
            max_iterations=config.max_iterations,
        )
        replicas = to_elo(draws.beta)
        not_converged = draws.not_converged
        lower, upper = percentile_interval(replicas, config.confidence)
        covariance = np.atleast_2d(np.cov(replicas, rowvar=False))
        standard_error = replicas.std(axis=0, ddof=1)
    else:
        covariance = ELO_SCALE**2 * sandwich_covariance(used, fit, unit=config.resample)
        standard_error = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
        z = normal_quantile(config.confidence)
        lower, upper = elo - z * standard_error, elo + z * standard_error

    rank = 1 + (elo[None, :] > elo[:, None]).sum(axis=1)
    # An interval wholly above this one means that model is better beyond reasonable doubt.
    rank_with_uncertainty = 1 + (lower[None, :] > upper[:, None]).sum(axis=1)
    order = np.lexsort((np.arange(len(elo)), rank))
    all_codes = np.flatnonzero(qualifying)
    lines: list[ModelRanking] = []
    for position in order:
        code = int(all_codes[position])
        lines.append(
            ModelRanking(
                model=comparisons.models[code],
                rank=int(rank[position]),
                rank_with_uncertainty=int(rank_with_uncertainty[position]),
                elo=float(elo[position]),
                lower=float(lower[position]),
                upper=float(upper[position]),
                standard_error=float(standard_error[position]),
                n_ratings=int(tallies.ratings[code]),
                wins=int(tallies.wins[code]),
                ties=int(tallies.ties[code]),
                losses=int(tallies.losses[code]),
            )
        )
    unranked = np.flatnonzero(~qualifying)
    for code in unranked[np.lexsort((unranked, -tallies.ratings[unranked]))]:
        lines.append(
            ModelRanking(
                model=comparisons.models[int(code)],
                rank=None,
                rank_with_uncertainty=None,
                elo=None,
                lower=None,
                upper=None,
                standard_error=None,
                n_ratings=int(tallies.ratings[code]),
                wins=int(tallies.wins[code]),
                ties=int(tallies.ties[code]),
                losses=int(tallies.losses[code]),
            )
        )

    empirical = np.full((len(elo), len(elo)), np.nan)
    design = fit.design
    share = np.divide(
        fit.pair_win,
        fit.pair_total,
        out=np.full(design.n_pairs, np.nan),
        where=fit.pair_total > 0,
    )
    empirical[design.pair_i, design.pair_j] = share
    empirical[design.pair_j, design.pair_i] = 1.0 - share
    return Leaderboard(
        models=tuple(lines),
        win_rate_models=tuple(used.models[int(position)] for position in order),
        empirical_win_rate=empirical[np.ix_(order, order)],
        predicted_win_rate=fit.predicted_win_rate()[np.ix_(order, order)],
        separability=separability(lower, upper),
        n_ratings=comparisons.n_ratings,
        n_ratings_used=used.n_ratings,
        n_prompts=used.n_prompts,
        config=config,
        diagnostics=Diagnostics(
            fit_iterations=fit.iterations, replicas_not_converged=not_converged
        ),
        elo_covariance=covariance[np.ix_(order, order)],
        elo_replicas=None if replicas is None else replicas[:, order],
    )


def qualifying_models(comparisons: Comparisons, min_ratings: int) -> BoolArray:
    """Models with at least `min_ratings` ratings against other qualifying models.

    Dropping a model also drops its ratings, which can push an opponent below the minimum,
    so the rule is applied until nothing changes.
    """
    m = comparisons.n_models
    keep = np.ones(m, dtype=np.bool_)
    while True:
        cells = keep[comparisons.model_i] & keep[comparisons.model_j]
        weights = comparisons.count[cells]
        ratings = sum_by(comparisons.model_i[cells], weights, m) + sum_by(
            comparisons.model_j[cells], weights, m
        )
        updated = keep & (ratings >= min_ratings)
        if np.array_equal(updated, keep):
            return keep
        keep = updated


def separability(lower: FloatArray, upper: FloatArray) -> float | None:
    """Share of model pairs whose intervals do not overlap (None with fewer than two models)."""
    m = len(lower)
    if m < 2:
        return None
    above = lower[:, None] > upper[None, :]
    separated = above | above.T
    return float(separated[np.triu_indices(m, 1)].mean())


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise StatsInputError(f"{name} must be one of {allowed}, got {value!r}")


def _whole(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise StatsInputError(f"{name} must be a whole number >= {minimum}, got {value!r}")


def _positive(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(float(value))
        or value <= 0
    ):
        raise StatsInputError(f"{name} must be a positive finite number, got {value!r}")
