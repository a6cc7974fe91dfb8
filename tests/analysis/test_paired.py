"""Paired differences and slopes against independent computations: scipy's t interval, a
brute-force bootstrap, the bootstrap's normal limit, and cases with a known verdict."""

import math

import numpy as np
import pytest
from scipy import stats

from metalab.analysis.paired import paired, slope, verdict
from metalab.errors import BadInput


def test_seed_interval_is_scipys_paired_t_interval():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 1.0, 6), rng.normal(0.0, 1.0, 6)
    got = paired(a, b)
    d = a - b
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert got.difference == pytest.approx(d.mean())
    assert (got.low, got.high) == pytest.approx((low, high))
    assert (got.n, got.unit) == (6, "seeds")
    # scipy's paired t test agrees on which side of 0 the interval lies
    p = stats.ttest_rel(a, b).pvalue
    assert (p < 0.05) == (got.low > 0 or got.high < 0)


def test_seed_unit_averages_tasks_within_each_seed_first():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(4, 30)), rng.normal(size=(4, 30))
    got = paired(a, b, unit="seeds")
    ref = paired(a.mean(axis=1), b.mean(axis=1), unit="seeds")
    assert got[:3] == pytest.approx(ref[:3]) and got[3:] == ref[3:]


def _brute_bootstrap(d, resamples, rng):
    """Resample each seed's tasks one seed at a time, in plain loops."""
    means = []
    for _ in range(resamples):
        per_seed = [row[rng.integers(0, len(row), len(row))].mean() for row in d]
        means.append(sum(per_seed) / len(per_seed))
    return np.percentile(means, [2.5, 97.5])


def test_task_bootstrap_matches_brute_force_and_normal_limit():
    rng = np.random.default_rng(3)
    a = rng.normal(0.3, 1.0, (3, 80)) + rng.normal(size=(3, 1))  # seed effects cancel in a - b
    b = rng.normal(0.0, 1.0, (3, 80)) + (a - rng.normal(0.3, 1.0, (3, 80)))
    d = a - b
    got = paired(a, b, unit="tasks", resamples=4000, seed=0)
    low, high = _brute_bootstrap(d, 4000, np.random.default_rng(99))
    sd = math.sqrt(sum(row.var() / len(row) for row in d)) / len(d)
    assert got.difference == pytest.approx(d.mean())
    assert got.n == d.size
    assert got.low == pytest.approx(low, abs=0.15 * sd)  # Monte Carlo error of two bootstraps
    assert got.high == pytest.approx(high, abs=0.15 * sd)
    assert got.low == pytest.approx(d.mean() - 1.96 * sd, abs=0.15 * sd)
    assert got.high == pytest.approx(d.mean() + 1.96 * sd, abs=0.15 * sd)


def test_bootstrap_is_deterministic_given_its_seed():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 50)), rng.normal(size=(2, 50))
    first = paired(a, b, unit="tasks", resamples=500, seed=7)
    assert paired(a, b, unit="tasks", resamples=500, seed=7) == first
    assert paired(a, b, unit="tasks", resamples=500, seed=8) != first
    one_seed = paired(a[0], b[0], unit="tasks", resamples=500)
    assert one_seed.n == 50 and one_seed.difference == pytest.approx((a[0] - b[0]).mean())


@pytest.mark.parametrize("shift,direction,expected", [
    (1.0, "greater", "supported"),
    (-1.0, "greater", "not supported"),
    (0.0, "greater", "inconclusive"),
    (-1.0, "less", "supported"),
    (1.0, "less", "not supported"),
])
def test_verdicts_of_known_cases(shift, direction, expected):
    rng = np.random.default_rng(5)
    noise = rng.normal(0.0, 0.1, 8)
    noise -= noise.mean()  # the mean difference is exactly the shift
    b = rng.normal(size=8)
    got = paired(b + shift + noise, b, direction=direction)
    assert got.verdict == expected
    assert got.difference == pytest.approx(shift, abs=1e-12)


def test_margin_turns_a_tight_null_into_not_supported_and_decides_equality():
    rng = np.random.default_rng(6)
    noise = rng.normal(0.0, 0.01, 10)
    b = rng.normal(size=10)
    assert paired(b + noise, b).verdict == "inconclusive"
    assert paired(b + noise, b, margin=0.1).verdict == "not supported"
    assert paired(b + noise, b, direction="equal", margin=0.1).verdict == "supported"
    assert paired(b + 1 + noise, b, direction="equal", margin=0.1).verdict == "not supported"
    assert verdict(-0.05, 0.3, "equal", 0.1) == "inconclusive"


@pytest.mark.parametrize("low,high,direction,expected", [
    (-0.05, 0.3, "at-least", "supported"),  # no worse than b - 0.1
    (-0.3, 0.05, "at-least", "inconclusive"),
    (-0.5, -0.2, "at-least", "not supported"),
    (-0.3, 0.05, "at-most", "supported"),
    (0.2, 0.5, "at-most", "not supported"),
    (-0.05, 0.05, "equal", "supported"),
    (0.15, 0.3, "equal", "not supported"),
    (0.05, 0.3, "greater", "supported"),
    (-0.05, 0.05, "greater", "not supported"),  # inside the margin: too small to matter
])
def test_verdict_against_a_margin_of_0_1(low, high, direction, expected):
    assert verdict(low, high, direction, 0.1) == expected
    assert verdict(-high, -low, {"at-least": "at-most", "at-most": "at-least",
                                 "greater": "less"}.get(direction, direction), 0.1) == expected


def test_one_seed_gives_no_interval_and_no_verdict():
    got = paired([1.0], [0.0])
    assert math.isnan(got.low) and math.isnan(got.high) and got.verdict == "inconclusive"


def test_slope_recovers_power_laws_per_seed():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    exponents = np.array([-1.1, -0.9, -1.0, -1.05])
    y = 3.0 * x[None, :] ** exponents[:, None]
    got = slope(x, y)
    low, high = stats.t.interval(0.95, 3, loc=exponents.mean(), scale=stats.sem(exponents))
    assert got.difference == pytest.approx(exponents.mean())
    assert (got.low, got.high) == pytest.approx((low, high))
    assert got.verdict == "supported"  # clearly negative: large modes first
    flat = slope(x, 5.0 * x[None, :] ** (0.01 * np.array([1, -1, 2, -2]))[:, None],
                 direction="equal", margin=0.2)
    assert flat.verdict == "supported"  # concurrent: a slope near zero


def test_slope_leaves_out_seeds_with_a_mode_never_reached():
    x = np.array([1.0, 2.0, 4.0])
    y = np.array([[4.0, 2.0, np.inf], [4.0, 2.0, 1.0], [8.0, 4.0, 2.0], [np.nan, 2.0, 1.0]])
    got = slope(x, y)
    assert got.n == 2 and got.difference == pytest.approx(-1.0)
    assert slope(x, y[:1]).verdict == "inconclusive" and slope(x, y[:1]).n == 0


def test_bad_input_names_the_fix():
    with pytest.raises(BadInput, match="same seeds"):
        paired([1.0, 2.0], [1.0])
    with pytest.raises(BadInput, match="margin"):
        paired([1.0, 2.0], [0.0, 1.0], direction="equal")
    with pytest.raises(BadInput, match="direction"):
        paired([1.0, 2.0], [0.0, 1.0], direction="up")
    with pytest.raises(BadInput, match="shapes"):
        slope([1.0, 2.0], np.ones((2, 3)))
