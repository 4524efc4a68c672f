import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats as sps

from shared.ssm import (ar1_lgssm, bootstrap_particle_filter, conditional_smc, joint_moments, kalman_filter,
                        lgssm, make_lgssm, paris_smoother, ppg, rts_smoother, smoothed_cross_moments)
from shared.ssm import _categorical


def _two_d_model():
    A = [[0.8, 0.2], [-0.1, 0.7]]
    Q = [[0.5, 0.1], [0.1, 0.3]]
    C = [[1.0, 0.5]]
    return lgssm(A, C, Q, [[0.4]])


def _posterior(model, y):
    """x_{0:T-1} | y by conditioning the joint Gaussian (the reference for the smoother)."""
    T, dx = y.shape[0], model.dim_x
    mean, cov = joint_moments(model, T)
    n = T * dx
    Sxy, Syy = cov[:n, n:], cov[n:, n:]
    gain = np.linalg.solve(Syy, Sxy.T).T
    m = mean[:n] + gain @ (y.ravel() - mean[n:])
    S = cov[:n, :n] - gain @ Sxy.T
    return m.reshape(T, dx), S


@pytest.mark.parametrize("which", ["ar1", "2d"])
def test_kalman_log_likelihood_is_the_joint_gaussian_logpdf(which):
    model = ar1_lgssm(0.9, 0.6, 1.0) if which == "ar1" else _two_d_model()
    _, y = make_lgssm(np.random.default_rng(1), 12, model)
    mean, cov = joint_moments(model, 12)
    n = 12 * model.dim_x
    ref = sps.multivariate_normal(mean[n:], cov[n:, n:]).logpdf(y.ravel())
    assert kalman_filter(model, y).log_likelihood == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("which", ["ar1", "2d"])
def test_rts_smoother_equals_gaussian_conditioning(which):
    model = ar1_lgssm(0.7, 0.5, 0.8) if which == "ar1" else _two_d_model()
    T, dx = 9, model.dim_x
    _, y = make_lgssm(np.random.default_rng(2), T, model)
    m, S = _posterior(model, y)
    sm = rts_smoother(model, y)
    np.testing.assert_allclose(sm.means, m, atol=1e-9)
    for t in range(T):
        np.testing.assert_allclose(sm.covs[t], S[t * dx:(t + 1) * dx, t * dx:(t + 1) * dx], atol=1e-9)
    for t in range(T - 1):
        np.testing.assert_allclose(sm.cross_covs[t], S[t * dx:(t + 1) * dx, (t + 1) * dx:(t + 2) * dx], atol=1e-9)
    second = smoothed_cross_moments(sm)
    np.testing.assert_allclose(second[0], np.outer(m[0], m[1]) + S[:dx, dx:2 * dx], atol=1e-9)


def test_simulated_moments_match_the_joint():
    model = _two_d_model()
    x, y = make_lgssm(np.random.default_rng(3), 4, model, n_replicates=20000)
    mean, cov = joint_moments(model, 4)
    sample = np.concatenate([x.reshape(20000, -1), y.reshape(20000, -1)], axis=1)
    np.testing.assert_allclose(sample.mean(0), mean, atol=0.05)
    np.testing.assert_allclose(np.cov(sample.T), cov, atol=0.08)


def test_particle_filter_log_likelihood_within_monte_carlo_error():
    model = ar1_lgssm(0.9, 0.6, 1.0)
    rng = np.random.default_rng(4)
    _, y = make_lgssm(rng, 30, model)
    exact = kalman_filter(model, y).log_likelihood
    ll = bootstrap_particle_filter(model, y, 3000, rng, n_replicates=60).log_likelihood
    # exp(ll) is unbiased for the likelihood; with this many particles log-scale Jensen bias is negligible
    se = ll.std(ddof=1) / np.sqrt(ll.size)
    assert abs(ll.mean() - exact) < 4 * se + 0.01
    # the filter means track the Kalman filter means
    means = bootstrap_particle_filter(model, y, 3000, rng, n_replicates=4).filter_means.mean(0)
    np.testing.assert_allclose(means, kalman_filter(model, y).filt_means, atol=0.05)


def _x_prev_x_curr(xp, xc, t):
    return xp * xc


def test_paris_with_many_particles_approaches_the_exact_smoothed_functional():
    model = ar1_lgssm(0.9, 0.6, 1.0)
    rng = np.random.default_rng(5)
    _, y = make_lgssm(rng, 20, model)
    exact = smoothed_cross_moments(rts_smoother(model, y))[:, 0, 0].sum()
    est = paris_smoother(model, y, _x_prev_x_curr, 400, rng, n_replicates=24).estimate[:, 0]
    se = est.std(ddof=1) / np.sqrt(est.size)
    assert abs(est.mean() - exact) < 4 * se + 0.02 * abs(exact)
    # a vector functional with an initial term: (x_0^2 + sum x_t^2, sum x_{t-1} x_t) on the 2-D model
    m2 = _two_d_model()
    _, y2 = make_lgssm(rng, 15, m2)
    sm2 = rts_smoother(m2, y2)
    exact2 = np.array([(sm2.means[:, 0] ** 2 + sm2.covs[:, 0, 0]).sum(), smoothed_cross_moments(sm2)[:, 1, 1].sum()])
    h = lambda xp, xc, t: np.concatenate([xc[..., :1] ** 2 + 0 * xp[..., :1], xp[..., 1:] * xc[..., 1:]], axis=-1)
    h0 = lambda x0: np.concatenate([x0[..., :1] ** 2, 0 * x0[..., :1]], axis=-1)
    est2 = paris_smoother(m2, y2, h, 400, rng, n_replicates=16, h0=h0).estimate
    se2 = est2.std(0, ddof=1) / 4
    assert np.all(np.abs(est2.mean(0) - exact2) < 4 * se2 + 0.02 * np.abs(exact2))


def test_paris_bias_shrinks_with_particles():
    model = ar1_lgssm(0.9, 0.6, 1.0)
    rng = np.random.default_rng(6)
    _, y = make_lgssm(rng, 30, model)
    exact = smoothed_cross_moments(rts_smoother(model, y))[:, 0, 0].sum()
    bias = [paris_smoother(model, y, _x_prev_x_curr, n, rng, n_replicates=600).estimate.mean() - exact
            for n in (4, 32)]
    assert abs(bias[1]) < abs(bias[0])


@pytest.mark.parametrize("backward", [True, False])
def test_conditional_smc_keeps_the_reference(backward):
    # observations equal to the reference with tiny noise: every fresh particle has ~zero weight,
    # so the frozen reference particle must survive intact
    base = ar1_lgssm(0.9, 0.6, 1.0)
    model = lgssm(base.A, base.C, base.Q, [[1e-8]], m0=base.m0, P0=base.P0)
    rng = np.random.default_rng(7)
    x, _ = make_lgssm(rng, 15, model, n_replicates=3)
    for r in range(3):
        new = conditional_smc(model, x[r], x[r:r + 1], 5, rng, backward_sampling=backward)
        np.testing.assert_array_equal(new, x[r:r + 1])
        est = paris_smoother(model, x[r], _x_prev_x_curr, 5, rng, reference=x[r:r + 1]).estimate
        assert est[0, 0] == pytest.approx((x[r, :-1, 0] * x[r, 1:, 0]).sum(), rel=1e-6)


def test_conditional_smc_leaves_the_smoothing_distribution_invariant():
    model = ar1_lgssm(0.8, 0.7, 0.6)
    rng = np.random.default_rng(8)
    _, y = make_lgssm(rng, 6, model)
    m, S = _posterior(model, y)
    R = 3000
    start = rng.multivariate_normal(m[:, 0], S, size=R)[:, :, None]
    moved = conditional_smc(model, y, start, 3, rng)
    se = np.sqrt(np.diag(S)) / np.sqrt(R)
    assert np.all(np.abs(moved[:, :, 0].mean(0) - m[:, 0]) < 4.5 * se)
    assert np.all(np.abs(moved[:, :, 0].var(0) / np.diag(S) - 1) < 0.15)
    assert not np.array_equal(moved, start)


def test_ppg_averages_iterations_after_burn_in_and_is_close_to_exact():
    model = ar1_lgssm(0.9, 0.6, 1.0)
    rng = np.random.default_rng(9)
    _, y = make_lgssm(rng, 20, model)
    exact = smoothed_cross_moments(rts_smoother(model, y))[:, 0, 0].sum()
    out = ppg(model, y, _x_prev_x_curr, 8, 10, 5, rng, n_replicates=400)
    np.testing.assert_allclose(out.estimate, out.per_iteration[5:].mean(0))
    assert out.reference.shape == (400, 20, 1)
    se = out.estimate.std(ddof=1) / np.sqrt(400)
    assert abs(out.estimate.mean() - exact) < 4 * se + 0.01 * abs(exact)


def test_batched_parameters_match_unbatched_runs():
    y = make_lgssm(np.random.default_rng(10), 12, ar1_lgssm(0.9, 0.6, 1.0))[1]
    one = paris_smoother(ar1_lgssm(0.9, 0.6, 1.0), y, _x_prev_x_curr, 16, np.random.default_rng(11),
                         n_replicates=3)
    many = paris_smoother(ar1_lgssm(np.full(3, 0.9), 0.6, 1.0), y, _x_prev_x_curr, 16, np.random.default_rng(11),
                          n_replicates=3)
    np.testing.assert_allclose(many.estimate, one.estimate, rtol=1e-12)
    np.testing.assert_allclose(many.log_likelihood, one.log_likelihood, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=6), st.integers(0, 2 ** 31 - 1))
def test_categorical_draws_follow_the_probabilities(logits, seed):
    logits = np.array(logits)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    draws = _categorical(np.random.default_rng(seed), np.tile(logits, (4000, 1)), 1).ravel()
    assert draws.min() >= 0 and draws.max() < len(p)
    freq = np.bincount(draws, minlength=len(p)) / draws.size
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / draws.size) + 1e-3)


def test_invalid_inputs_raise():
    model = ar1_lgssm(0.9, 0.6, 1.0)
    with pytest.raises(ValueError, match="unit circle"):
        lgssm([[1.2]], [[1.0]], [[1.0]], [[1.0]])
    with pytest.raises(ValueError, match="positive definite"):
        lgssm([[0.5]], [[1.0]], [[-1.0]], [[1.0]])
    with pytest.raises(ValueError, match="y must have shape"):
        kalman_filter(model, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="reference must have shape"):
        paris_smoother(model, np.zeros(5), _x_prev_x_curr, 4, np.random.default_rng(0), reference=np.zeros((1, 4, 1)))
    with pytest.raises(ValueError, match="burn_in"):
        ppg(model, np.zeros(5), _x_prev_x_curr, 4, 3, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="batched over"):
        bootstrap_particle_filter(ar1_lgssm(np.full(2, 0.5), 1.0, 1.0), np.zeros(5), 4, np.random.default_rng(0), 3)
    with pytest.raises(ValueError, match="unbatched"):
        kalman_filter(ar1_lgssm(np.full(2, 0.5), 1.0, 1.0), np.zeros(5))
