import numpy as np
import pytest
from sklearn.decomposition import FactorAnalysis

from shared.factor_models import FactorModel, factor_analysis_from_moments, factor_analysis_mle, random_factor_model


def test_em_reaches_sklearns_maximum_likelihood_and_never_decreases():
    rng = np.random.default_rng(0)
    truth = random_factor_model(12, 2, rng)
    X, _ = truth.sample(3000, rng)
    model, hist = factor_analysis_mle(X, 2, n_iter=2000, tol=1e-10)
    assert np.all(np.diff(hist) >= -1e-10)
    ref = FactorAnalysis(2, tol=1e-10, max_iter=5000, random_state=0).fit(X)
    assert hist[-1] == pytest.approx(ref.score(X), abs=1e-4)
    np.testing.assert_allclose(model.covariance, ref.get_covariance(), atol=5e-3)


def test_loglik_and_posterior_mean_match_the_joint_gaussian():
    rng = np.random.default_rng(1)
    m = FactorModel(rng.standard_normal((5, 2)), rng.uniform(0.2, 1.0, 5), rng.standard_normal(5))
    X, _ = m.sample(7, rng)
    # p(z | x) from the joint Gaussian of (z, x)
    C = m.covariance
    want = (m.loading.T @ np.linalg.solve(C, (X - m.mean).T)).T
    np.testing.assert_allclose(m.posterior_mean(X), want, rtol=1e-10)
    from scipy.stats import multivariate_normal
    np.testing.assert_allclose(m.loglik(X), multivariate_normal(m.mean, C).logpdf(X))


def test_random_factor_model_scales_loadings_with_dimension_and_validates():
    rng = np.random.default_rng(2)
    big = random_factor_model(2000, 3, rng)
    assert (big.loading ** 2).sum(0) == pytest.approx([3.0] * 3, rel=0.1)
    with pytest.raises(ValueError, match="r must be smaller"):
        factor_analysis_mle(np.zeros((10, 3)), 3)


def test_moments_fit_equals_the_data_fit_and_its_trace_is_the_data_log_likelihood():
    rng = np.random.default_rng(3)
    X, _ = random_factor_model(10, 2, rng).sample(400, rng)
    model, hist = factor_analysis_mle(X, 2, n_iter=50)
    same, hist2 = factor_analysis_from_moments(X.mean(0), np.cov(X.T, bias=True), 2, n_iter=50)
    np.testing.assert_allclose(same.covariance, model.covariance, atol=1e-10)
    np.testing.assert_allclose(hist2, hist, atol=1e-10)
    assert hist[-1] == pytest.approx(model.loglik(X).mean(), abs=1e-9)
    with pytest.raises(ValueError, match="cov"):
        factor_analysis_from_moments(np.zeros(3), np.eye(4), 1)
