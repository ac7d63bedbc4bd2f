"""SEAL's ranking engine: Bradley-Terry Elo with prompt-bootstrap intervals, agreement, accuracy.

Plain numpy/pandas; imports nothing from the project. Typical use::

    from leaderboards.stats import Comparisons, RankingConfig, rank_models

    board = rank_models(ratings_frame, RankingConfig(seed=7))           # one row per rating
    board = rank_models(Comparisons.from_counts(grouped_frame))         # database aggregates
    snapshot_json = board.to_dict()
"""

from .accuracy import AccuracyResult, accuracy_interval, wilson_interval
from .agreement import AgreementResult, krippendorff_alpha, krippendorff_alpha_long
from .bradley_terry import (
    ELO_BASE,
    ELO_SCALE,
    BradleyTerryFit,
    fit_bradley_terry,
    prior_ridge,
    to_elo,
)
from .data import Comparisons, ModelTallies, preference_to_outcome
from .diagnostics import (
    AnswerDiagnostics,
    AnswerSums,
    StandingDifferences,
    answer_diagnostics,
    standing_differences,
)
from .errors import (
    DisconnectedComparisonGraphError,
    InsufficientDataError,
    StatsConvergenceError,
    StatsInputError,
)
from .intervals import BootstrapDraws, bootstrap_strengths, sandwich_covariance
from .ranking import (
    ENGINE_VERSION,
    Anchor,
    Diagnostics,
    Leaderboard,
    ModelRanking,
    RankingConfig,
    qualifying_models,
    rank_models,
    rankable_models,
    separability,
)
from .style import (
    STYLE_FEATURES,
    StyleCoefficient,
    StyleControlled,
    StylePointFit,
    fit_style_controlled,
    normalised_differences,
    rank_spread,
    style_controlled,
    style_point_fit,
)

__all__ = [
    "ELO_BASE",
    "ELO_SCALE",
    "ENGINE_VERSION",
    "STYLE_FEATURES",
    "AccuracyResult",
    "AgreementResult",
    "Anchor",
    "AnswerDiagnostics",
    "AnswerSums",
    "BootstrapDraws",
    "BradleyTerryFit",
    "Comparisons",
    "Diagnostics",
    "DisconnectedComparisonGraphError",
    "InsufficientDataError",
    "Leaderboard",
    "ModelRanking",
    "ModelTallies",
    "RankingConfig",
    "StandingDifferences",
    "StatsConvergenceError",
    "StatsInputError",
    "StyleCoefficient",
    "StyleControlled",
    "StylePointFit",
    "accuracy_interval",
    "answer_diagnostics",
    "bootstrap_strengths",
    "fit_bradley_terry",
    "fit_style_controlled",
    "krippendorff_alpha",
    "krippendorff_alpha_long",
    "normalised_differences",
    "preference_to_outcome",
    "prior_ridge",
    "qualifying_models",
    "rank_models",
    "rank_spread",
    "rankable_models",
    "sandwich_covariance",
    "separability",
    "standing_differences",
    "style_controlled",
    "style_point_fit",
    "to_elo",
    "wilson_interval",
]
