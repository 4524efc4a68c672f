"""shared.densities against scipy.stats, and identities of log-densities and scores."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from shared.densities import (gaussian_logpdf, mixture_logpdf, mixture_responsibilities,
                              mixture_sample, mixture_score)

W, M, S = [0.3, 0.7], [-1.5, 1.0], [0.35**2, 0.5**2]


def random_spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T + d * np.eye(d)


@pytest.mark.parametrize("d", [1, 2, 5])
def test_gaussian_logpdf_matches_scipy(d):
    rng = np.random.default_rng(d)
    mean, cov = rng.standard_normal(d), random_spd(rng, d)
    x = rng.standard_normal((50, d))
    ref = stats.multivariate_normal(mean, cov).logpdf(x)
    np.testing.assert_allclose(gaussian_logpdf(x, mean, cov), np.atleast_1d(ref), rtol=1e-10)
    # a precomputed Cholesky factor gives the same values
    np.testing.assert_allclose(gaussian_logpdf(x, mean, chol=np.linalg.cholesky(cov)), np.atleast_1d(ref), rtol=1e-10)


def test_gaussian_logpdf_wants_one_covariance_and_a_real_cholesky_factor():
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    with pytest.raises(ValueError, match="exactly one of cov and chol"):
        gaussian_logpdf(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="exactly one of cov and chol"):
        gaussian_logpdf(np.zeros((3, 2)), np.zeros(2), cov, chol=np.linalg.cholesky(cov))
    with pytest.raises(ValueError, match="lower-triangular"):
        gaussian_logpdf(np.zeros((3, 2)), np.zeros(2), chol=np.linalg.cholesky(cov).T)


def test_mixture_logpdf_matches_scipy_and_integrates_to_one():
    x = np.linspace(-4, 4, 101)
    ref = np.log(sum(w * stats.norm(m, np.sqrt(s)).pdf(x) for w, m, s in zip(W, M, S)))
    np.testing.assert_allclose(mixture_logpdf(x, W, M, S), ref, rtol=1e-10)
    total, _ = integrate.quad(lambda t: np.exp(mixture_logpdf(np.array([t]), W, M, S))[0], -10, 10)
    assert total == pytest.approx(1.0, abs=1e-8)


@settings(max_examples=30, deadline=None)
@given(st.floats(-3, 3), st.floats(0.05, 0.95))
def test_mixture_score_is_derivative_of_logpdf(x, w):
    h = 1e-5
    weights = [w, 1 - w]
    fd = (mixture_logpdf(np.array([x + h]), weights, M, S) - mixture_logpdf(np.array([x - h]), weights, M, S)) / (2 * h)
    assert mixture_score(np.array([x]), weights, M, S)[0, 0] == pytest.approx(fd[0], rel=1e-5, abs=1e-6)


def test_multivariate_score_and_responsibilities():
    rng = np.random.default_rng(0)
    means = rng.standard_normal((3, 2))
    covs = np.stack([random_spd(rng, 2) for _ in range(3)])
    w = np.array([0.2, 0.5, 0.3])
    x = rng.standard_normal((20, 2))
    resp = mixture_responsibilities(x, w, means, covs)
    np.testing.assert_allclose(resp.sum(1), 1.0)
    h = 1e-6
    fd = np.stack([(mixture_logpdf(x + h * e, w, means, covs) - mixture_logpdf(x - h * e, w, means, covs)) / (2 * h)
                   for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(mixture_score(x, w, means, covs), fd, rtol=1e-5, atol=1e-7)


def test_mixture_sample_moments():
    x = mixture_sample(np.random.default_rng(1), 200_000, W, M, S)[:, 0]
    mean = np.dot(W, M)
    var = np.dot(W, np.array(S) + np.array(M) ** 2) - mean**2
    assert x.mean() == pytest.approx(mean, abs=0.01) and x.var() == pytest.approx(var, rel=0.02)


@pytest.mark.parametrize("call,match", [
    (lambda: gaussian_logpdf(np.zeros((3, 2)), [0, 0, 0], np.eye(3)), "shape \\(n, 3\\)"),
    (lambda: gaussian_logpdf(np.zeros((3, 2)), [0, 0], -np.eye(2)), "positive definite"),
    (lambda: gaussian_logpdf(np.zeros((3, 2)), [0, 0], [[1, 0.5], [0, 1]]), "symmetric"),
    (lambda: mixture_logpdf(np.zeros(3), [0.5, 0.6], M, S), "summing to 1"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
