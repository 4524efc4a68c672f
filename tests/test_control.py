import numpy as np
import pytest
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv
from hypothesis import given, settings, strategies as st

from shared.control import (cartpole_step, gaussian_nll, linearize, lqr_gain, mpc_random_shooting, pendulum_step,
                            taylor_vaml_loss, value_gradient_weighted_mse, value_iteration_grid)

torch.set_num_threads(1)


def test_cartpole_batch_equals_gymnasium_single_env_at_its_two_forces():
    rng = np.random.default_rng(0)
    s, f = rng.normal(0, 0.2, (6, 4)), np.array([10.0, -10, 10, -10, 10, -10])
    got = cartpole_step(s, f)
    for i in range(6):
        env = CartPoleEnv()
        env.reset(seed=0)
        env.state = s[i].copy()
        env.step(int(f[i] > 0))
        np.testing.assert_array_equal(got[i], env.state)


def test_cartpole_force_enters_linearly_through_the_cart_acceleration():
    s = np.zeros((3, 4))
    nxt = cartpole_step(s, [-4.0, 0.0, 4.0])
    np.testing.assert_allclose(nxt[2] - nxt[1], nxt[1] - nxt[0], atol=1e-14)
    assert nxt[2, 1] > 0 > nxt[2, 3]  # pushing the cart right tips the pole left


def test_pendulum_batch_equals_gymnasium_single_env():
    rng = np.random.default_rng(1)
    s, u = np.c_[rng.uniform(-4, 4, 8), rng.uniform(-9, 9, 8)], rng.uniform(-3, 3, 8)
    got, rew = pendulum_step(s, u)
    for i in range(8):
        env = PendulumEnv()
        env.reset(seed=0)
        env.state = s[i].copy()
        _, r, *_ = env.step(np.array([u[i]]))
        np.testing.assert_allclose(got[i], env.state, rtol=0, atol=1e-12)
        assert rew[i] == pytest.approx(r)


def test_linearize_recovers_a_linear_map_and_validates():
    A0, B0 = np.array([[1.0, 0.1], [-0.2, 0.9]]), np.array([[0.0], [0.5]])
    A, B = linearize(lambda S, U: S @ A0.T + U @ B0.T, [0.3, -1.0], [2.0])
    np.testing.assert_allclose(A, A0, atol=1e-9)
    np.testing.assert_allclose(B, B0, atol=1e-9)
    with pytest.raises(ValueError, match="states must have shape"):
        cartpole_step(np.zeros((2, 3)), [0.0, 0.0])


def test_lqr_gain_is_the_fixed_point_of_the_riccati_recursion():
    A = np.array([[1.0, 0.1], [0.0, 1.0]])
    B, Q, R = np.array([[0.0], [0.1]]), np.eye(2), np.array([[0.5]])
    P = Q.copy()
    for _ in range(5000):
        K = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
        P = Q + A.T @ P @ (A - B @ K)
    np.testing.assert_allclose(lqr_gain(A, B, Q, R), K, rtol=1e-8)
    assert np.max(np.abs(np.linalg.eigvals(A - B @ lqr_gain(A, B, Q, R)))) < 1


def test_lqr_balances_the_gymnasium_cartpole():
    A, B = linearize(lambda S, U: cartpole_step(S, U[:, 0]), np.zeros(4), np.zeros(1))
    K = lqr_gain(A, B, np.diag([1.0, 1, 10, 1]), [[0.1]])
    s = np.array([[0.0, 0.0, 0.15, 0.0]])
    for _ in range(300):
        s = cartpole_step(s, np.clip(-(K @ s[0]), -10, 10))
    assert np.all(np.abs(s) < 1e-2)


def test_mpc_random_shooting_picks_the_best_sampled_sequence():
    # 1-D integrator rewarded for being near 1: from 0 the best first action is the largest sampled one
    step = lambda s, a: s + a
    reward = lambda s, a: -(s[:, 0] - 1.0) ** 2
    a = mpc_random_shooting(step, reward, [0.0], horizon=1, n_candidates=50, low=[-1], high=[1],
                            rng=np.random.default_rng(0), terminal_value=lambda s: -(s[:, 0] - 1.0) ** 2)
    draws = np.random.default_rng(0).uniform([-1], [1], size=(50, 1, 1))
    assert a[0] == pytest.approx(draws.max())
    with pytest.raises(ValueError, match="low and high"):
        mpc_random_shooting(step, reward, [0.0], horizon=1, n_candidates=5, low=[1], high=[-1],
                            rng=np.random.default_rng(0))


def test_value_iteration_on_a_chain_matches_the_closed_form():
    # states 0..10 on a line; actions move -1/0/+1; reward 1 at the right end each step
    grid = np.arange(11.0)

    def step(s, a):
        nxt = np.clip(s + a[:, None], 0, 10)
        return nxt, (s[:, 0] == 10).astype(float)

    V, f = value_iteration_grid(step, [grid], [-1.0, 0.0, 1.0], gamma=0.9, n_iter=2000, tol=1e-12)
    want = 0.9 ** (10 - grid) / (1 - 0.9)
    np.testing.assert_allclose(V, want, rtol=1e-8)
    assert f([[9.5]])[0] == pytest.approx((want[9] + want[10]) / 2)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_gaussian_nll_matches_torch_distributions(seed):
    g = torch.Generator().manual_seed(seed)
    mean, log_var, y = (torch.randn(7, 3, generator=g, dtype=torch.float64) for _ in range(3))
    want = -torch.distributions.Normal(mean, torch.exp(0.5 * log_var)).log_prob(y).sum(-1).mean()
    torch.testing.assert_close(gaussian_nll(mean, log_var, y), want)


def test_vagram_reduces_to_mse_with_unit_gradients_and_weights_dimensions():
    g = torch.Generator().manual_seed(0)
    pred, y = torch.randn(20, 3, generator=g), torch.randn(20, 3, generator=g)
    ones = torch.ones(20, 3)
    torch.testing.assert_close(value_gradient_weighted_mse(pred, y, ones, clip_quantile=None),
                               ((pred - y) ** 2).sum(-1).mean())
    w = torch.tensor([1.0, 0.0, 0.0]).expand(20, 3)
    torch.testing.assert_close(value_gradient_weighted_mse(pred, y, w, clip_quantile=None),
                               ((pred[:, 0] - y[:, 0]) ** 2).mean())
    big = ones.clone()
    big[0] *= 100.0  # one outlying gradient is clipped to the 0.9 quantile of norms
    clipped = value_gradient_weighted_mse(pred, y, big, clip_quantile=0.9)
    assert clipped < value_gradient_weighted_mse(pred, y, big, clip_quantile=None)


def test_taylor_vaml_has_zero_loss_for_errors_orthogonal_to_the_gradient():
    y = torch.zeros(5, 2)
    pred = torch.tensor([[1.0, -1.0]]).expand(5, 2)
    grad = torch.ones(5, 2)
    assert taylor_vaml_loss(pred, y, grad).item() == 0.0
    assert value_gradient_weighted_mse(pred, y, grad, clip_quantile=None).item() == pytest.approx(2.0)
