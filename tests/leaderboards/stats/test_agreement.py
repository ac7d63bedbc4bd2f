"""Krippendorff's alpha against textbook values, a hand computation and a brute-force definition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from leaderboards.stats import StatsInputError, krippendorff_alpha, krippendorff_alpha_long

nan = np.nan

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers,
# twelve units, missing values. Published: nominal .743, ordinal .815, interval .849, ratio .797.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
]

# The three-coder example on Wikipedia's "Krippendorff's alpha" page: nominal 0.691, interval 0.811.
WIKIPEDIA = [
    [nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
    [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
    [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4],
]


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_2011_reliability_data(level: str, published: float) -> None:
    result = krippendorff_alpha(KRIPPENDORFF_2011, level=level)  # type: ignore[arg-type]
    assert result.alpha is not None
    assert round(result.alpha, 3) == published
    assert result.n_units == 11  # unit 12 has a single value and is not pairable
    assert result.n_values == 40


@pytest.mark.parametrize(("level", "published"), [("nominal", 0.691358), ("interval", 0.810845)])
def test_wikipedia_example(level: str, published: float) -> None:
    result = krippendorff_alpha(WIKIPEDIA, level=level)  # type: ignore[arg-type]
    assert result.alpha == pytest.approx(published, abs=5e-7)


def test_hand_computed_example() -> None:
    """Two coders, units (1,1), (1,2), (1,3), (3,3).

    Coincidences o = [[2,1,1],[1,0,0],[1,0,2]], marginals n = (4, 1, 3), n.. = 8.
    Ordinal delta^2: (1,2) = (4+1 - 5/2)^2 = 6.25, (1,3) = (8 - 7/2)^2 = 20.25,
    (2,3) = (1+3 - 4/2)^2 = 4. D_o = (2*6.25 + 2*20.25) / 8 = 6.625,
    D_e = 2 (4*1*6.25 + 4*3*20.25 + 1*3*4) / (8*7) = 10, alpha = 1 - 6.625/10 = 0.3375.
    Interval: D_o = (2*1 + 2*4)/8 = 1.25, D_e = 2 (4 + 48 + 3) / 56 = 110/56, alpha = 4/11.
    Nominal: D_o = 4/8, D_e = 2 (4 + 12 + 3) / 56 = 38/56, alpha = 5/19.
    """
    data = [[1, 1, 1, 3], [1, 2, 3, 3]]
    ordinal = krippendorff_alpha(data, level="ordinal")
    assert ordinal.alpha == pytest.approx(0.3375, abs=1e-12)
    assert ordinal.observed_disagreement == pytest.approx(6.625)
    assert ordinal.expected_disagreement == pytest.approx(10.0)
    assert krippendorff_alpha(data, level="interval").alpha == pytest.approx(4 / 11, abs=1e-12)
    assert krippendorff_alpha(data, level="nominal").alpha == pytest.approx(5 / 19, abs=1e-12)


def brute_force_alpha(data: np.ndarray, level: str) -> float:
    """Straight from the pairable-values definition, with explicit loops."""
    units = [column[~np.isnan(column)] for column in data.T]
    units = [values for values in units if len(values) >= 2]
    pooled = np.concatenate(units)
    domain = sorted(set(pooled.tolist()))
    frequency = {value: int((pooled == value).sum()) for value in domain}

    def delta(c: float, k: float) -> float:
        if level == "nominal":
            return float(c != k)
        if level == "interval":
            return (c - k) ** 2
        low, high = min(c, k), max(c, k)
        between = sum(frequency[g] for g in domain if low <= g <= high)
        return (between - (frequency[c] + frequency[k]) / 2) ** 2

    n = len(pooled)
    observed = sum(
        sum(delta(a, b) for a, b in itertools.permutations(values, 2)) / (len(values) - 1)
        for values in units
    )
    expected = sum(delta(a, b) for a, b in itertools.permutations(pooled, 2))
    return 1.0 - (n - 1) * observed / expected


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_matches_the_pairwise_definition_on_random_preferences(level: str) -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(-2, 3, size=40)
    data = np.clip(truth + rng.integers(-1, 2, size=(5, 40)), -2, 2).astype(float)
    data[rng.random(data.shape) < 0.4] = np.nan  # each annotator rates only some comparisons
    result = krippendorff_alpha(data, level=level)  # type: ignore[arg-type]
    assert result.alpha == pytest.approx(brute_force_alpha(data, level), abs=1e-12)


def test_long_format_equals_the_matrix() -> None:
    rng = np.random.default_rng(4)
    data = rng.integers(-2, 3, size=(4, 25)).astype(float)
    data[rng.random(data.shape) < 0.3] = np.nan
    coder, unit = np.nonzero(~np.isnan(data))
    long = krippendorff_alpha_long([f"comparison-{u}" for u in unit], data[coder, unit])
    matrix = krippendorff_alpha(data)
    assert long.alpha == pytest.approx(matrix.alpha, abs=1e-12)
    assert (long.n_units, long.n_values) == (matrix.n_units, matrix.n_values)


def test_agreement_extremes() -> None:
    assert krippendorff_alpha([[1, 2, 3], [1, 2, 3]]).alpha == 1.0
    # Systematic disagreement: worse than chance.
    alpha = krippendorff_alpha([[-2, -2, 2, 2], [2, 2, -2, -2]], level="interval").alpha
    assert alpha is not None
    assert alpha < 0
    # Every value the same: no variation to agree on, alpha is undefined.
    assert krippendorff_alpha([[1, 1, 1], [1, 1, 1]]).alpha is None


def test_agreement_input_errors() -> None:
    with pytest.raises(StatsInputError, match="at least one unit with two or more values"):
        krippendorff_alpha([[1, nan], [nan, 2]])
    with pytest.raises(StatsInputError, match="coders x units"):
        krippendorff_alpha([1, 2, 3])
    with pytest.raises(StatsInputError, match="must be numbers"):
        krippendorff_alpha([["good", "bad"], ["good", "good"]])
    with pytest.raises(StatsInputError, match="outside the value domain"):
        krippendorff_alpha([[1, 2], [1, 3]], value_domain=[1, 2])
    with pytest.raises(StatsInputError, match="level must be one of"):
        krippendorff_alpha([[1, 2], [1, 2]], level="cardinal")  # type: ignore[arg-type]
    with pytest.raises(StatsInputError, match="differ in length"):
        krippendorff_alpha_long([1, 2, 3], [1, 2])
