"""Unit tests of shared.mcmc: random-walk Metropolis-Hastings and score line integrals."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from shared.densities import gaussian_logpdf, mixture_logpdf, mixture_score
from shared.mcmc import metropolis_hastings, score_line_integral

MEAN = np.array([1.0, -2.0])
COV = np.array([[0.5, 0.2], [0.2, 2.0]])
TARGET = stats.multivariate_normal(MEAN, COV)


def test_mh_recovers_a_gaussian_target():
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-5, 5, size=(2000, 2))
    samples, acc = metropolis_hastings(x0, 200, 1.0, rng, log_density=TARGET.logpdf)
    assert samples.shape == (200, 2000, 2)
    assert 0.2 < acc < 0.8
    final = samples[-1]  # one state per independent chain: close to iid draws
    np.testing.assert_allclose(final.mean(axis=0), TARGET.mean, atol=0.1)
    np.testing.assert_allclose(np.cov(final.T), TARGET.cov, atol=0.2)
    for j in range(2):
        margin = stats.norm(MEAN[j], np.sqrt(COV[j, j]))
        assert stats.kstest(final[:, j], margin.cdf).pvalue > 1e-3


def test_mh_from_a_wrong_target_is_detected():
    # the same check must fail when the chains target another density
    rng = np.random.default_rng(0)
    wrong = stats.multivariate_normal(MEAN + 1.0, COV)
    samples, _ = metropolis_hastings(rng.uniform(-5, 5, size=(2000, 2)), 200, 1.0, rng,
                                     log_density=wrong.logpdf)
    assert stats.kstest(samples[-1][:, 0], stats.norm(MEAN[0], np.sqrt(COV[0, 0])).cdf).pvalue < 1e-3


def test_log_ratio_drive_matches_log_density_drive():
    x0 = np.random.default_rng(1).normal(size=(50, 2))
    a, acc_a = metropolis_hastings(x0, 40, 0.7, np.random.default_rng(2), log_density=TARGET.logpdf)
    b, acc_b = metropolis_hastings(x0, 40, 0.7, np.random.default_rng(2),
                                   log_ratio=lambda x, y: TARGET.logpdf(y) - TARGET.logpdf(x))
    np.testing.assert_array_equal(a, b)
    assert acc_a == acc_b


def test_acceptance_rate_responds_to_the_step_size():
    rng = np.random.default_rng(3)
    x0 = rng.normal(MEAN, 1.0, size=(200, 2))
    _, small = metropolis_hastings(x0, 50, 1e-3, rng, log_density=TARGET.logpdf)
    _, large = metropolis_hastings(x0, 50, 50.0, rng, log_density=TARGET.logpdf)
    assert small > 0.95 and large < 0.05


def test_one_dimensional_chains_and_no_mutation_of_x0():
    x0 = np.zeros(10)
    samples, _ = metropolis_hastings(x0, 5, 0.5, np.random.default_rng(0),
                                     log_density=lambda x: -0.5 * x[:, 0] ** 2)
    assert samples.shape == (5, 10, 1) and np.all(x0 == 0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "exactly one"),
    (dict(log_density=TARGET.logpdf, log_ratio=lambda x, y: 0), "exactly one"),
    (dict(log_density=TARGET.logpdf, n_steps=0), "n_steps"),
    (dict(log_density=TARGET.logpdf, proposal_sd=0.0), "proposal_sd"),
    (dict(log_density=TARGET.logpdf, rng=np.random.RandomState(0)), "Generator"),
    (dict(log_density=TARGET.logpdf, x0=np.zeros((2, 2, 2))), "x0"),
    (dict(log_ratio=lambda x, y: np.zeros(3)), r"shape \(4,\)"),
])
def test_mh_validates(kwargs, match):
    args = dict(x0=np.zeros((4, 2)), n_steps=3, proposal_sd=0.5, rng=np.random.default_rng(0))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        metropolis_hastings(args.pop("x0"), args.pop("n_steps"), args.pop("proposal_sd"),
                            args.pop("rng"), **args)


# score line integral -------------------------------------------------------------------------
coord = st.floats(-3, 3, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(mean=coord, var=st.floats(0.1, 4.0), x=coord, y=coord, n_points=st.integers(2, 9))
def test_line_integral_is_exact_for_a_gaussian(mean, var, x, y, n_points):
    # the integrand is linear along the segment, so the trapezoid rule is exact
    score = lambda z: -(z - mean) / var
    got = score_line_integral(score, np.array([[x]]), np.array([[y]]), n_points)
    want = gaussian_logpdf([y], [mean], [[var]]) - gaussian_logpdf([x], [mean], [[var]])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), k=st.integers(1, 3), d=st.integers(1, 2))
def test_line_integral_of_a_mixture_score_is_the_log_density_difference(data, k, d):
    w = np.array(data.draw(st.lists(st.floats(0.1, 1.0), min_size=k, max_size=k)))
    w /= w.sum()
    means = np.array(data.draw(st.lists(st.lists(coord, min_size=d, max_size=d), min_size=k, max_size=k)))
    variances = data.draw(st.lists(st.floats(0.3, 2.0), min_size=k, max_size=k))
    covs = np.stack([v * np.eye(d) for v in variances])
    x = np.array(data.draw(st.lists(st.lists(coord, min_size=d, max_size=d), min_size=4, max_size=4)))
    y = np.array(data.draw(st.lists(st.lists(coord, min_size=d, max_size=d), min_size=4, max_size=4)))
    got = score_line_integral(lambda z: mixture_score(z, w, means, covs), x, y, n_points=801)
    want = mixture_logpdf(y, w, means, covs) - mixture_logpdf(x, w, means, covs)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_line_integral_of_a_wrong_score_differs():
    w, means, covs = [0.5, 0.5], [-1.0, 1.5], [0.3, 0.5]
    x, y = np.array([[-1.0]]), np.array([[1.5]])
    want = mixture_logpdf(y, w, means, covs) - mixture_logpdf(x, w, means, covs)
    wrong = score_line_integral(lambda z: -mixture_score(z, w, means, covs), x, y, 201)
    assert abs(wrong[0] - want[0]) > 0.1


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_points=1), "n_points"), (dict(n_points=True), "n_points"),
    (dict(y=np.zeros((3, 2))), "same shape"),
    (dict(score_fn=lambda z: z[:, :1]), "score_fn must return"),
])
def test_line_integral_validates(kwargs, match):
    args = dict(score_fn=lambda z: -z, x=np.zeros((2, 2)), y=np.ones((2, 2)), n_points=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        score_line_integral(**args)


# --- emcee_sample -----------------------------------------------------------------------
from shared.mcmc import emcee_sample  # noqa: E402


def test_emcee_sample_recovers_a_gaussian_within_sampling_error():
    cov_inv = np.linalg.inv(COV)

    def log_prob(x):  # vectorised over walkers
        r = x - MEAN
        return -0.5 * np.einsum("ij,jk,ik->i", r, cov_inv, r)

    samples, acc = emcee_sample(log_prob, n_walkers=32, n_steps=1500, seed=0, burn=300,
                                center=[0.0, 0.0], scale=[1.0, 1.0], vectorize=True)
    assert samples.shape == (1200 * 32, 2)
    assert 0.4 < acc < 0.9
    # autocorrelated samples: about 1200 * 32 / 30 effective draws -> sd of the mean ~ 0.01-0.02
    np.testing.assert_allclose(samples.mean(axis=0), MEAN, atol=0.08)
    np.testing.assert_allclose(np.cov(samples.T), COV, rtol=0.1, atol=0.05)
    again, _ = emcee_sample(log_prob, n_walkers=32, n_steps=1500, seed=0, burn=300,
                            center=[0.0, 0.0], scale=[1.0, 1.0], vectorize=True)
    np.testing.assert_array_equal(samples, again)


def test_emcee_sample_scalar_log_prob_and_validation():
    samples, _ = emcee_sample(TARGET.logpdf, np.random.default_rng(1).normal(size=(8, 2)),
                              n_walkers=8, n_steps=50, seed=np.random.default_rng(2))
    assert samples.shape == (400, 2)
    with pytest.raises(ValueError, match="n_walkers >= 2 d"):
        emcee_sample(TARGET.logpdf, np.zeros((3, 2)), n_walkers=3, n_steps=10, seed=0)
    with pytest.raises(ValueError, match="burn"):
        emcee_sample(TARGET.logpdf, n_walkers=8, n_steps=10, seed=0, burn=10, center=[0, 0], scale=[1, 1])
    with pytest.raises(ValueError, match="center and scale"):
        emcee_sample(TARGET.logpdf, n_walkers=8, n_steps=10, seed=0)
