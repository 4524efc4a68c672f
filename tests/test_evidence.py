"""Unit tests of shared.evidence: dynesty wrapper, call counting, and the surrogate switch.

Reference: a Gaussian likelihood (normalised density) in a uniform prior box, whose
evidence is known in closed form: Z = (1/V) * prod_j [Phi((b - m_j)/s_j) - Phi((a - m_j)/s_j)].
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from shared.evidence import CountingLikelihood, SurrogateFit, SurrogateSwitch, run_nested

MEAN = np.array([0.5, -1.0])
SD = np.array([0.3, 0.6])
LO, HI = -4.0, 4.0


def gaussian_loglike(theta):
    return float(np.sum(-0.5 * ((theta - MEAN) / SD) ** 2 - np.log(SD * np.sqrt(2 * np.pi))))


def box(u):
    return LO + (HI - LO) * u


LNZ_EXACT = float(np.sum(np.log(stats.norm.cdf(HI, MEAN, SD) - stats.norm.cdf(LO, MEAN, SD)))
                  - 2 * np.log(HI - LO))


@pytest.fixture(scope="module")
def exact_run():
    return run_nested(gaussian_loglike, box, 2, nlive=150, dlogz=0.5, seed=1)


def test_gaussian_loglike_matches_scipy():
    theta = np.array([0.1, 0.2])
    ref = stats.multivariate_normal(MEAN, np.diag(SD ** 2)).logpdf(theta)
    assert gaussian_loglike(theta) == pytest.approx(ref, rel=1e-12)


def test_evidence_matches_the_closed_form(exact_run):
    assert abs(exact_run.logz - LNZ_EXACT) < 3 * exact_run.logz_err + 0.05
    assert 0 < exact_run.logz_err < 0.5


def test_posterior_moments_match_the_gaussian(exact_run):
    n = exact_run.samples.shape[0]
    assert exact_run.samples.shape[1] == 2 and n > 500
    # equally weighted samples: mean within a few Monte-Carlo standard errors (ESS < n)
    assert np.all(np.abs(exact_run.mean - MEAN) < 4 * SD / np.sqrt(n / 4))
    np.testing.assert_allclose(exact_run.sd, SD, rtol=0.15)


def test_calls_are_counted_and_seeded_runs_repeat(exact_run):
    again = run_nested(gaussian_loglike, box, 2, nlive=150, dlogz=0.5, seed=1)
    # dynesty's own count covers the sampling loop; the initial live points are drawn and evaluated before it
    assert again.n_calls == exact_run.n_calls >= int(np.sum(exact_run.results["ncall"]))
    assert again.logz == exact_run.logz
    np.testing.assert_array_equal(again.samples, exact_run.samples)
    assert exact_run.n_iter == exact_run.results["niter"]


def quadratic_fit(X, y, threshold):
    """Least squares on (1, x, y, x^2, xy, y^2): exact for a Gaussian log-likelihood."""
    A = np.column_stack([np.ones(len(X)), X, X[:, :1] ** 2, X[:, :1] * X[:, 1:], X[:, 1:] ** 2])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)

    def predict(Z):
        Z = np.atleast_2d(Z)
        return np.column_stack([np.ones(len(Z)), Z, Z[:, :1] ** 2, Z[:, :1] * Z[:, 1:], Z[:, 1:] ** 2]) @ coef

    return SurrogateFit(predict, float(np.sqrt(np.mean((predict(X) - y) ** 2))), {"n": len(y)})


def test_an_exact_surrogate_reproduces_the_run_and_saves_calls(exact_run):
    sw = SurrogateSwitch(gaussian_loglike, quadratic_fit, trigger_calls=800, tolerance=1e-6)
    res = run_nested(sw, box, 2, nlive=150, dlogz=0.5, seed=1, on_iteration=sw.on_iteration)
    assert sw.active and sw.events[0]["switched"]
    assert sw.n_true + sw.n_surrogate == res.n_calls == exact_run.n_calls
    assert sw.n_true < 0.5 * exact_run.n_calls
    # an (up to rounding) exact surrogate leaves the sampler's random path unchanged
    assert res.logz == pytest.approx(exact_run.logz, abs=1e-8)
    np.testing.assert_allclose(res.samples, exact_run.samples, atol=1e-8)


def test_a_bad_surrogate_is_refused_and_retried():
    def useless_fit(X, y, threshold):
        return SurrogateFit(lambda Z: np.zeros(len(np.atleast_2d(Z))), 10.0, {})

    sw = SurrogateSwitch(gaussian_loglike, useless_fit, trigger_calls=500, retry_calls=300, max_tries=3,
                         tolerance=0.1)
    res = run_nested(sw, box, 2, nlive=100, dlogz=0.5, seed=2, on_iteration=sw.on_iteration)
    assert not sw.active and sw.n_surrogate == 0 and sw.n_true == res.n_calls
    tries = [e["n_true"] for e in sw.events]
    assert len(tries) == 3 and tries[1] - tries[0] >= 300 and tries[2] - tries[1] >= 300
    assert abs(res.logz - LNZ_EXACT) < 3 * res.logz_err + 0.05


def test_the_spot_check_falls_back_from_a_drifting_surrogate():
    calls = {"n": 0}

    def lying_fit(X, y, threshold):
        good = quadratic_fit(X, y, threshold)

        def predict(Z):
            calls["n"] += 1
            return good.predict(Z) + (0.5 if calls["n"] > 200 else 0.0)   # goes wrong after a while

        return SurrogateFit(predict, good.val_error, {})

    sw = SurrogateSwitch(gaussian_loglike, lying_fit, trigger_calls=500, tolerance=1e-3, max_tries=1,
                         check_every=300, n_check=10)
    res = run_nested(sw, box, 2, nlive=100, dlogz=0.5, seed=3, on_iteration=sw.on_iteration)
    checks = [e for e in sw.events if e["event"] == "check"]
    assert checks and not checks[-1]["switched"] and checks[-1]["error"] == pytest.approx(0.5)
    assert not sw.active and sw.n_true + sw.n_surrogate < res.n_calls + 10 + 1


def test_trigger_by_dlogz():
    sw = SurrogateSwitch(gaussian_loglike, quadratic_fit, trigger_dlogz=2.0, tolerance=1e-6)
    run_nested(sw, box, 2, nlive=100, dlogz=0.5, seed=4, on_iteration=sw.on_iteration)
    assert sw.events and sw.events[0]["delta_logz"] <= 2.0


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=30))
def test_counting_likelihood_counts_and_stores(values):
    it = iter(values)
    cl = CountingLikelihood(lambda t: next(it), store=True)
    for i in range(len(values)):
        cl(np.array([i, -i]))
    assert cl.n_calls == len(values)
    np.testing.assert_array_equal(cl.logls, values)
    X, y = cl.recent(5)
    np.testing.assert_array_equal(y, values[-5:])
    np.testing.assert_array_equal(X[:, 0], np.arange(len(values))[-5:])


@pytest.mark.parametrize("kwargs, match", [
    (dict(nlive=0), "nlive"),
    (dict(dlogz=-1.0), "dlogz"),
    (dict(seed=None), "exactly one"),
    (dict(rng=np.random.default_rng(0)), "exactly one"),
    (dict(on_iteration=3), "on_iteration"),
])
def test_run_nested_validates(kwargs, match):
    args = dict(nlive=50, dlogz=0.5, seed=0) | kwargs
    with pytest.raises(ValueError, match=match):
        run_nested(gaussian_loglike, box, 2, **args)


def test_switch_validates():
    with pytest.raises(ValueError, match="trigger"):
        SurrogateSwitch(gaussian_loglike, quadratic_fit)
    with pytest.raises(ValueError, match="callable"):
        SurrogateSwitch(gaussian_loglike, "fit", trigger_calls=10)
    with pytest.raises(ValueError, match="tolerance"):
        SurrogateSwitch(gaussian_loglike, quadratic_fit, trigger_calls=10, tolerance=0)
    with pytest.raises(ValueError, match="callable"):
        CountingLikelihood(None)
