"""The leaderboard builder: ratings in, Elo with intervals, ranks and win-rate matrices out."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from . import _json
from .bradley_terry import (
    DEFAULT_MAX_ITERATIONS,
    DEFAULT_PRIOR_SD_ELO,
    DEFAULT_TOLERANCE,
    ELO_SCALE,
    WEIGHTINGS,
    Weighting,
    fit_bradley_terry,
    prior_ridge,
    to_elo,
)
from .data import BoolArray, Comparisons, FloatArray, IntArray, ModelId, sum_by
from .errors import InsufficientDataError, StatsInputError
from .graph import connected_components, reachability
from .intervals import (
    BOOTSTRAP_INTERVALS,
    RESAMPLE_UNITS,
    BootstrapInterval,
    ResampleUnit,
    bootstrap_interval,
    bootstrap_strengths,
    normal_quantile,
    sandwich_covariance,
)
from .style import rank_spread

IntervalMethod: TypeAlias = Literal["bootstrap", "sandwich"]
INTERVAL_METHODS: tuple[IntervalMethod, ...] = ("bootstrap", "sandwich")

# Bump when the same data and config would give different numbers, so snapshots can say which.
ENGINE_VERSION = "2"
DEFAULT_MIN_RATINGS = 20


@dataclass(frozen=True)
class RankingConfig:
    """Everything that determines a leaderboard's numbers; stored with each snapshot.

    interval: "bootstrap" (intervals over `replicas` resamples drawn with `seed`, of the kind
    `bootstrap_interval`: "basic" by default, which held nominal coverage in the dense,
    sparse and new-model simulations where "percentile" did not; bench/bench_coverage.py)
    or "sandwich" (cluster-robust normal intervals, no randomness; under-covers models with
    few prompts). resample: the unit that is resampled or clustered, "prompt" (correct when
    ratings of a prompt are correlated) or "rating" (treats every rating as independent; for
    comparison only). prior_sd: standard deviation in Elo points of the Gaussian prior on
    every centred strength (the fit maximises the posterior; the ridge is 1 / sd^2 on the
    natural-log scale). min_ratings and require_wins_and_losses: which models get a rank
    (see `rankable_models`); the others are listed with the reason.
    """

    interval: IntervalMethod = "bootstrap"
    bootstrap_interval: BootstrapInterval = "basic"
    replicas: int = 1000
    seed: int = 0
    resample: ResampleUnit = "prompt"
    weighting: Weighting = "none"
    prior_sd: float = DEFAULT_PRIOR_SD_ELO
    min_ratings: int = DEFAULT_MIN_RATINGS
    require_wins_and_losses: bool = True
    confidence: float = 0.95
    tolerance: float = DEFAULT_TOLERANCE
    max_iterations: int = DEFAULT_MAX_ITERATIONS

    def __post_init__(self) -> None:
        _choice("interval", self.interval, INTERVAL_METHODS)
        _choice("bootstrap_interval", self.bootstrap_interval, BOOTSTRAP_INTERVALS)
        _choice("resample", self.resample, RESAMPLE_UNITS)
        _choice("weighting", self.weighting, WEIGHTINGS)
        _whole("replicas", self.replicas, minimum=2)
        _whole("seed", self.seed, minimum=0)
        _whole("min_ratings", self.min_ratings, minimum=1)
        _whole("max_iterations", self.max_iterations, minimum=1)
        _positive("prior_sd", self.prior_sd)
        if not isinstance(self.require_wins_and_losses, bool):
            raise StatsInputError(
                f"require_wins_and_losses must be true or false, "
                f"got {self.require_wins_and_losses!r}"
            )
        _positive("tolerance", self.tolerance)
        _positive("confidence", self.confidence)
        if self.confidence >= 1:
            raise StatsInputError(f"confidence must be below 1, got {self.confidence!r}")

    @property
    def ridge(self) -> float:
        """The penalty 1 / sd^2 on natural-log strengths that the prior amounts to."""
        return prior_ridge(self.prior_sd)

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
    """One model's line on the leaderboard; the Elo fields are None when it is not ranked.

    `not_ranked_reason` says why a model has no rank, e.g. "3 ratings; needs 20".
    `rank_lower` and `rank_upper` are the rank spread: the 2.5% and 97.5% quantiles (at the
    configured confidence) of the model's rank over the bootstrap replicas; None without them.
    """

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
    not_ranked_reason: str | None = None
    rank_lower: int | None = None
    rank_upper: int | None = None

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
            "not_ranked_reason": self.not_ranked_reason,
            "rank_lower": self.rank_lower,
            "rank_upper": self.rank_upper,
        }


@dataclass(frozen=True)
class Diagnostics:
    """How the solver fared: point-fit Newton iterations and bootstrap replicas not converged."""

    fit_iterations: int
    replicas_not_converged: int

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Anchor:
    """How the Elo scale was placed: every value (and interval, and replica) is shifted by `shift`.

    Without a previous board the scale is centred at 1000 over the ranked models. With one,
    the shift makes the mean Elo of `models` (ranked both here and there) equal
    `reference_mean`, their mean there, so established models keep their numbers when only
    newcomers change.
    """

    shift: float
    models: tuple[ModelId, ...]
    reference_mean: float | None

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict."""
        return {
            "shift": _json.number(self.shift),
            "models": [_json.identifier(model) for model in self.models],
            "reference_mean": _json.number(self.reference_mean),
        }


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
    anchor: Anchor = Anchor(shift=0.0, models=(), reference_mean=None)
    # Replicas' prompt counts times the caller's per-prompt columns (see `rank_models`).
    extra_replicas: FloatArray | None = None

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
            "anchor": self.anchor.to_dict(),
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
    anchor: Mapping[Any, float] | None = None,
    extra_columns: Callable[[Comparisons, FloatArray], FloatArray | None] | None = None,
) -> Leaderboard:
    """Build a leaderboard: Elo, 95% intervals, ranks, vote counts and win-rate matrices.

    `ratings` is either one row per rating (a DataFrame as in `Comparisons.from_ratings`) or a
    `Comparisons` built by any of its constructors, e.g. `Comparisons.from_counts` on rows the
    database grouped by prompt and pair. `models` lists models to show even if they have no
    ratings yet. Only the models `rankable_models` accepts are fitted and ranked; the others
    are listed with the reason. `anchor` maps models to their Elo on the previous board: the
    scale is shifted so the ranked models found there keep their mean (see `Anchor`).
    `extra_columns(used, beta)`, given the ratings between the ranked models and their fitted
    strengths, may return a (prompts, columns) matrix in `used`'s prompt coding; each prompt
    bootstrap replica's counts times it are returned as `Leaderboard.extra_replicas` (the
    style-controlled view takes its replicas from here, so both use the same draws).
    """
    config = config or RankingConfig()
    if isinstance(ratings, Comparisons):
        comparisons = ratings if models is None else ratings.with_models(models)
    else:
        comparisons = Comparisons.from_ratings(ratings, models=models)
    tallies = comparisons.tallies()
    qualifying, reasons = rankable_models(
        comparisons, config.min_ratings, require_wins_and_losses=config.require_wins_and_losses
    )
    if qualifying.sum() < 2:
        raise InsufficientDataError(
            f"{int(qualifying.sum())} of {comparisons.n_models} models have at least "
            f"{config.min_ratings} ratings against other such models, with wins and losses, "
            f"in one connected group; at least two are needed",
            not_ranked={comparisons.models[code]: reason for code, reason in reasons.items()},
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
    extra_replicas: FloatArray | None = None
    if config.interval == "bootstrap":
        extra = None
        if extra_columns is not None and config.resample == "prompt":
            extra = extra_columns(used, fit.beta)
        draws = bootstrap_strengths(
            used,
            fit,
            replicas=config.replicas,
            seed=config.seed,
            unit=config.resample,
            tolerance=config.tolerance,
            max_iterations=config.max_iterations,
            extra=extra,
        )
        extra_replicas = draws.extra
        replicas = to_elo(draws.beta)
        not_converged = draws.not_converged
        lower, upper = bootstrap_interval(
            elo, replicas, config.confidence, kind=config.bootstrap_interval
        )
        covariance = np.atleast_2d(np.cov(replicas, rowvar=False))
        standard_error = replicas.std(axis=0, ddof=1)
    else:
        covariance = ELO_SCALE**2 * sandwich_covariance(used, fit, unit=config.resample)
        standard_error = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
        z = normal_quantile(config.confidence)
        lower, upper = elo - z * standard_error, elo + z * standard_error

    placed = _anchor(used.models, elo, anchor)
    # One shift for the estimate, its interval and every replica: differences, widths and
    # ranks are untouched, and the snapshot records the shift.
    elo, lower, upper = elo + placed.shift, lower + placed.shift, upper + placed.shift
    if replicas is not None:
        replicas = replicas + placed.shift

    rank = 1 + (elo[None, :] > elo[:, None]).sum(axis=1)
    # An interval wholly above this one means that model is better beyond reasonable doubt.
    rank_with_uncertainty = 1 + (lower[None, :] > upper[:, None]).sum(axis=1)
    spread = None if replicas is None else rank_spread(replicas, config.confidence)
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
                rank_lower=None if spread is None else int(spread[0][position]),
                rank_upper=None if spread is None else int(spread[1][position]),
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
                not_ranked_reason=reasons[int(code)],
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
        anchor=placed,
        extra_replicas=extra_replicas,
    )


def _anchor(
    models: tuple[ModelId, ...], elo: FloatArray, previous: Mapping[Any, float] | None
) -> Anchor:
    """The shift that gives the models shared with `previous` their mean Elo there."""
    shared = [
        (code, float(previous[model]))
        for code, model in enumerate(models)
        if previous is not None and model in previous and math.isfinite(float(previous[model]))
    ]
    if not shared:
        return Anchor(shift=0.0, models=(), reference_mean=None)
    codes = np.array([code for code, _ in shared], dtype=np.int64)
    reference = float(np.mean([value for _, value in shared]))
    return Anchor(
        shift=reference - float(elo[codes].mean()),
        models=tuple(models[int(code)] for code in codes),
        reference_mean=reference,
    )


def rankable_models(
    comparisons: Comparisons, min_ratings: int, *, require_wins_and_losses: bool = True
) -> tuple[BoolArray, dict[int, str]]:
    """Models that get a rank, and why each other model (by code) does not.

    A model is ranked when, counting only ratings against other ranked models, it has at
    least `min_ratings` ratings and it belongs to the largest group of such models linked by
    comparisons. With `require_wins_and_losses` (the default) it must also have at least one
    win and one loss (a tie counts as half of each), and the group must be linked by wins
    both ways: every ranked model has beaten, directly or through others, every other one (a
    tie links both ways). That is exactly when the likelihood alone has a finite maximum
    (Zermelo, Ford); without it a model or a group that never lost to the rest would be
    placed as high as the prior lets it, so it is listed as "no losses yet" instead. Dropping
    a model also drops its ratings, which can push an opponent below a rule, so the rules
    apply until nothing changes.
    """
    m = comparisons.n_models
    keep = np.ones(m, dtype=np.bool_)
    reasons: dict[int, str] = {}
    while True:
        cells = keep[comparisons.model_i] & keep[comparisons.model_j]
        cell_i, cell_j = comparisons.model_i[cells], comparisons.model_j[cells]
        count, outcome = comparisons.count[cells], comparisons.outcome[cells]
        ratings = sum_by(cell_i, count, m) + sum_by(cell_j, count, m)
        # A tie is half a win and half a loss in the likelihood, so it counts for both here.
        won_i, lost_i = count * (outcome > 0.0), count * (outcome < 1.0)
        wins = sum_by(cell_i, won_i, m) + sum_by(cell_j, lost_i, m)
        losses = sum_by(cell_i, lost_i, m) + sum_by(cell_j, won_i, m)
        dropped = False
        for code in np.flatnonzero(keep).tolist():
            n = int(ratings[code])
            if n < min_ratings:
                reason = "no ratings yet" if n == 0 else f"{n} ratings; needs {min_ratings}"
            elif require_wins_and_losses and wins[code] == 0:
                reason = "no wins yet"
            elif require_wins_and_losses and losses[code] == 0:
                reason = "no losses yet"
            else:
                continue
            keep[code] = False
            reasons[code] = reason
            dropped = True
        if dropped:
            continue
        used = cells & (comparisons.weight > 0)
        pair_i, pair_j = comparisons.model_i[used], comparisons.model_j[used]
        groups = [g for g in connected_components(m, pair_i, pair_j) if keep[g].all()]
        if not groups:
            return keep, reasons
        # Strengths of groups never compared with each other share no scale: rank the
        # largest group (most models, then the one holding the first model code).
        main = groups[0]
        for group in groups[1:]:
            for code in group.tolist():
                keep[code] = False
                reasons[code] = "not connected to the main group"
        if require_wins_and_losses:
            _drop_one_way_groups(comparisons, used, main, keep, reasons)
        if len(groups) == 1 and keep[main].all():
            return keep, reasons


def _drop_one_way_groups(
    comparisons: Comparisons,
    used: BoolArray,
    main: IntArray,
    keep: BoolArray,
    reasons: dict[int, str],
) -> None:
    """Keep only the largest group of `main` whose models all beat each other, directly or not."""
    outcome = comparisons.outcome[used]
    first, second = comparisons.model_i[used], comparisons.model_j[used]
    # An edge runs from winner to loser; a tie runs both ways.
    source = np.concatenate([first[outcome > 0.0], second[outcome < 1.0]])
    target = np.concatenate([second[outcome > 0.0], first[outcome < 1.0]])
    reach = reachability(comparisons.n_models, source, target)
    mutual = reach & reach.T
    members = [int(code) for code in main]
    strong: list[list[int]] = []
    seen: set[int] = set()
    for code in members:
        if code not in seen:
            component = [other for other in members if mutual[code, other]]
            seen.update(component)
            strong.append(component)
    if len(strong) == 1:
        return
    core = max(strong, key=lambda component: (len(component), -component[0]))
    for component in strong:
        if component is core:
            continue
        beat_core = bool(reach[component[0], core[0]])
        lost_to_core = bool(reach[core[0], component[0]])
        if beat_core and not lost_to_core:
            reason = "no losses against the main group yet"
        elif lost_to_core and not beat_core:
            reason = "no wins against the main group yet"
        else:
            reason = "no wins or losses against the main group yet"
        for code in component:
            keep[code] = False
            reasons[code] = reason


def qualifying_models(comparisons: Comparisons, min_ratings: int) -> BoolArray:
    """Models with at least `min_ratings` ratings against other qualifying models."""
    keep, _ = rankable_models(comparisons, min_ratings, require_wins_and_losses=False)
    return keep


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
