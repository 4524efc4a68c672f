import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats as sps

from shared.ledger import evaluate_check
from shared.stats import fit_power_law, spearman, tv_distance


def test_spearman_matches_scipy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=30), rng.normal(size=30)
    assert spearman(x, y) == pytest.approx(sps.spearmanr(x, y).statistic)


@given(st.lists(st.integers(-1000, 1000), min_size=3, max_size=20, unique=True))
@settings(max_examples=50, deadline=None)
def test_spearman_of_monotone_map_is_one(xs):
    assert spearman(xs, np.asarray(xs, dtype=float) ** 3) == pytest.approx(1.0)
    assert spearman(xs, [-v for v in xs]) == pytest.approx(-1.0)


def test_spearman_constant_raises_and_check_is_inconclusive():
    with pytest.raises(ValueError, match="constant"):
        spearman([1, 2, 3], [5, 5, 5])
    verdict, note = evaluate_check("spearman(x, y) < -0.8", {"x": [1, 2, 3], "y": [5, 5, 5]})
    assert verdict == "inconclusive"


@given(st.floats(-3, 3), st.floats(-5, 5))
@settings(max_examples=50, deadline=None)
def test_power_law_recovers_exact_exponent(slope, intercept):
    x = np.array([10.0, 100.0, 1000.0, 5000.0])
    fit = fit_power_law(x, np.exp(intercept) * x ** slope)
    assert fit["slope"] == pytest.approx(slope, abs=1e-9)
    assert fit["intercept"] == pytest.approx(intercept, abs=1e-8)


def test_power_law_matches_linregress_and_is_usable_in_checks():
    rng = np.random.default_rng(1)
    x = np.logspace(2, 5, 8)
    y = 3 * x ** -0.5 * np.exp(rng.normal(0, 0.1, 8))
    ref = sps.linregress(np.log(x), np.log(y))
    fit = fit_power_law(x, y)
    assert fit["slope"] == pytest.approx(ref.slope)
    assert fit["slope_se"] == pytest.approx(ref.stderr)
    assert evaluate_check("fit_power_law(ns, loss)['slope'] <= -0.3", {"ns": x, "loss": y})[0] == "reproduced"


@pytest.mark.parametrize("x, y, match", [([1, 2], [1, 2], "at least 3"), ([1, 2, 3], [1, 2], "same length"),
                                         ([1, 2, 3], [1, 0, 2], "positive")])
def test_power_law_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        fit_power_law(x, y)


# --- interval_coverage ------------------------------------------------------------------
from shared.stats import interval_coverage  # noqa: E402


def test_interval_coverage_counts_and_matches_nominal_level():
    assert interval_coverage([0, 1, 2], [1, 2, 3], 1.5) == pytest.approx(1 / 3)
    assert interval_coverage([0, 0], [1, 1], [1.0, 1.01]) == 0.5  # ends count as inside
    rng = np.random.default_rng(0)
    x = rng.normal(size=20_000)  # +-1 sd intervals around N(0, 1) draws cover 0 with prob 0.6827
    cov = interval_coverage(x - 1, x + 1, 0.0)
    assert cov == pytest.approx(sps.norm.cdf(1) - sps.norm.cdf(-1), abs=0.01)


def test_interval_coverage_validates():
    with pytest.raises(ValueError):
        interval_coverage([0, 1], [1], 0.5)
    with pytest.raises(ValueError):
        interval_coverage([2.0], [1.0], 1.5)


@pytest.mark.parametrize("p, q", [([1, 0], [0.5]), ([], []), ([-1, 2], [0.5, 0.5]), ([0, 0], [1, 0])])
def test_tv_distance_rejects_bad_input(p, q):
    with pytest.raises(ValueError, match="tv_distance"):
        tv_distance(p, q)


def test_tv_distance_normalises_histograms():
    assert tv_distance([30, 10], [0.5, 0.5]) == pytest.approx(0.25)
