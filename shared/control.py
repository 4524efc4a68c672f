"""Control on gymnasium's classic-control dynamics: batched steps, LQR, random-shooting MPC and value
iteration on a grid, plus the dynamics-model losses of model-based RL.

- :func:`cartpole_step` / :func:`pendulum_step`: one step of gymnasium's CartPole (continuous force) and
  Pendulum equations for a batch of states, computed by gymnasium's own ``step`` (no copy of the physics);
- :func:`linearize`, :func:`lqr_gain` (scipy's discrete algebraic Riccati solver);
- :func:`mpc_random_shooting`: best first action of random action sequences under a model;
- :func:`value_iteration_grid`: dynamic programming on a regular state grid with multilinear interpolation;
- :func:`gaussian_nll`, :func:`value_gradient_weighted_mse` (VaGraM), :func:`taylor_vaml_loss`.
States are float64 numpy arrays with one row per state; losses are torch scalars.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv, angle_normalize
from scipy.interpolate import RegularGridInterpolator
from scipy.linalg import solve_discrete_are

from .validation import positive_float, positive_int

CARTPOLE_DT = 0.02
PENDULUM_DT = 0.05


def _states(states, dim: int, name: str = "states") -> np.ndarray:
    s = np.asarray(states, dtype=float)
    if s.ndim != 2 or s.shape[1] != dim:
        raise ValueError(f"{name} must have shape (n, {dim}), got {s.shape}")
    return s


def _actions(actions, n: int, name: str) -> np.ndarray:
    a = np.asarray(actions, dtype=float).reshape(-1)
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {np.shape(actions)}")
    return a


def cartpole_step(states, force) -> np.ndarray:
    """Next states (n, 4) of gymnasium's CartPole (x, x_dot, theta, theta_dot; Euler, dt 0.02 s) under a
    continuous horizontal ``force`` (n,) in newtons, for a batch of ``states`` (n, 4).

    gymnasium's vectorised env applies ``sign(action - 0.5) * force_mag``; a per-state ``force_mag`` of
    ``|force|`` with action ``force > 0`` gives any force through its own equations. No termination or
    reset is applied: states past the thresholds are stepped like any other.
    """
    s = _states(states, 4)
    f = _actions(force, len(s), "force")
    env = CartPoleVectorEnv(num_envs=len(s))
    env.state = s.T.copy()
    env.force_mag = np.abs(f)
    env.prev_done = np.zeros(len(s), dtype=bool)
    env.steps = np.zeros(len(s), dtype=np.int32)
    env.step((f > 0).astype(np.int64))
    return np.asarray(env.state, dtype=float).T.copy()


def pendulum_step(states, torque, *, g: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Next states (n, 2) = (theta, theta_dot) and rewards (n,) of gymnasium's Pendulum (dt 0.05 s, torque
    clipped to [-2, 2], speed to [-8, 8]; reward ``-(angle^2 + 0.1 theta_dot^2 + 0.001 u^2)``) for a batch.

    gymnasium's ``PendulumEnv.step`` is written for one state but broadcasts over a (2, n) state and a
    (1, n) torque, so the batch goes through its own step.
    """
    s = _states(states, 2)
    u = _actions(torque, len(s), "torque")
    env = PendulumEnv(g=g)
    env.state = s.T.copy()
    _, reward, *_ = env.step(u[None, :])
    return np.asarray(env.state, dtype=float).T.copy(), np.asarray(reward, dtype=float).reshape(len(s))


def linearize(step: Callable[[np.ndarray, np.ndarray], np.ndarray], state, action, eps: float = 1e-5):
    """Jacobians ``A = d step / d s`` (ds, ds) and ``B = d step / d a`` (ds, da) of a batched map
    ``step(states (n, ds), actions (n, da)) -> (n, ds)`` at one point, by central differences."""
    s0, a0 = np.asarray(state, float).reshape(-1), np.asarray(action, float).reshape(-1)
    eps = positive_float("eps", eps)
    ds, da = len(s0), len(a0)
    S = np.repeat(s0[None], 2 * (ds + da), 0)
    U = np.repeat(a0[None], 2 * (ds + da), 0)
    for i in range(ds):
        S[2 * i, i] += eps
        S[2 * i + 1, i] -= eps
    for j in range(da):
        U[2 * (ds + j), j] += eps
        U[2 * (ds + j) + 1, j] -= eps
    out = np.asarray(step(S, U), float)
    diff = (out[0::2] - out[1::2]) / (2 * eps)  # (ds + da, ds)
    return diff[:ds].T, diff[ds:].T


def lqr_gain(A, B, Q, R) -> np.ndarray:
    """Infinite-horizon discrete LQR gain K (da, ds): ``u = -K s`` minimises ``sum s'Qs + u'Ru`` under
    ``s_{t+1} = A s_t + B u_t``; P solves the discrete algebraic Riccati equation (scipy)."""
    A, B, Q, R = (np.atleast_2d(np.asarray(m, float)) for m in (A, B, Q, R))
    ds, da = A.shape[0], B.shape[1]
    if A.shape != (ds, ds) or B.shape[0] != ds or Q.shape != (ds, ds) or R.shape != (da, da):
        raise ValueError(f"shapes must be A (ds, ds), B (ds, da), Q (ds, ds), R (da, da); got "
                         f"{A.shape}, {B.shape}, {Q.shape}, {R.shape}")
    P = solve_discrete_are(A, B, Q, R)
    return np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)


def mpc_random_shooting(model_step: Callable[[np.ndarray, np.ndarray], np.ndarray],
                        reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], state, *, horizon: int,
                        n_candidates: int, low, high, rng: np.random.Generator, gamma: float = 1.0,
                        terminal_value: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """First action (da,) of the best of ``n_candidates`` action sequences drawn uniformly in [low, high]
    for ``horizon`` steps, ranked by the discounted model return (plus ``terminal_value`` of the last state).

    ``model_step(states (c, ds), actions (c, da)) -> (c, ds)``; ``reward_fn(states, actions) -> (c,)``.
    """
    horizon, n_candidates = positive_int("horizon", horizon), positive_int("n_candidates", n_candidates)
    low, high = np.atleast_1d(np.asarray(low, float)), np.atleast_1d(np.asarray(high, float))
    if low.shape != high.shape or np.any(high < low):
        raise ValueError(f"low and high must have one shape and low <= high, got {low} and {high}")
    seqs = rng.uniform(low, high, size=(n_candidates, horizon, len(low)))
    s = np.repeat(np.asarray(state, float).reshape(1, -1), n_candidates, 0)
    ret = np.zeros(n_candidates)
    for t in range(horizon):
        ret += gamma ** t * np.asarray(reward_fn(s, seqs[:, t]), float)
        s = np.asarray(model_step(s, seqs[:, t]), float)
    if terminal_value is not None:
        ret += gamma ** horizon * np.asarray(terminal_value(s), float)
    return seqs[int(np.argmax(ret)), 0]


def value_iteration_grid(step_fn: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
                         grids: Sequence[np.ndarray], actions, *, gamma: float, n_iter: int = 500,
                         tol: float = 1e-8) -> tuple[np.ndarray, RegularGridInterpolator]:
    """Optimal value V on the tensor grid ``grids`` (one increasing 1-D array per state dimension) of a
    deterministic system ``step_fn(states (m, ds), actions (m,)) -> (next_states, rewards)``, by value
    iteration ``V <- max_a r(s, a) + gamma V(s')`` with V(s') multilinearly interpolated (next states
    outside the grid are clipped onto it). Returns V with shape ``[len(g) for g in grids]`` and a
    callable interpolator of it.
    """
    if not 0 <= gamma < 1:
        raise ValueError(f"gamma must be in [0, 1), got {gamma}")
    grids = [np.asarray(g, float) for g in grids]
    actions = np.asarray(actions, float).reshape(-1)
    mesh = np.stack(np.meshgrid(*grids, indexing="ij"), -1).reshape(-1, len(grids))
    m, k = len(mesh), len(actions)
    nxt, rew = step_fn(np.repeat(mesh, k, 0), np.tile(actions, m))
    lo, hi = np.array([g[0] for g in grids]), np.array([g[-1] for g in grids])
    nxt = np.clip(np.asarray(nxt, float), lo, hi)
    rew = np.asarray(rew, float).reshape(m, k)
    shape = tuple(len(g) for g in grids)
    V = np.zeros(shape)
    for _ in range(positive_int("n_iter", n_iter)):
        interp = RegularGridInterpolator(grids, V)
        new = (rew + gamma * interp(nxt).reshape(m, k)).max(1).reshape(shape)
        done = np.max(np.abs(new - V)) < tol
        V = new
        if done:
            break
    return V, RegularGridInterpolator(grids, V)


def gaussian_nll(mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over rows of the negative log-likelihood, in nats, of ``target`` (n, d) under independent
    Gaussians N(mean, exp(log_var)) (the PETS / MBPO dynamics-model loss), summed over dimensions."""
    if mean.shape != target.shape or log_var.shape != target.shape:
        raise ValueError(f"mean, log_var and target must share a shape, got {tuple(mean.shape)}, "
                         f"{tuple(log_var.shape)}, {tuple(target.shape)}")
    return 0.5 * (((target - mean) ** 2) * torch.exp(-log_var) + log_var + np.log(2 * np.pi)).sum(-1).mean()


def _clip_rows(grad_v: torch.Tensor, clip_quantile: float | None) -> torch.Tensor:
    if clip_quantile is None:
        return grad_v
    if not 0 < clip_quantile <= 1:
        raise ValueError(f"clip_quantile must be in (0, 1], got {clip_quantile}")
    norms = grad_v.norm(dim=-1, keepdim=True)
    cap = torch.quantile(norms, clip_quantile)
    return grad_v * torch.clamp(cap / norms.clamp_min(1e-12), max=1.0)


def value_gradient_weighted_mse(pred: torch.Tensor, target: torch.Tensor, grad_v: torch.Tensor, *,
                                clip_quantile: float | None = 0.95) -> torch.Tensor:
    """VaGraM loss ``mean_n sum_j (dV/ds_j(s') (f(s, a)_j - s'_j))^2``, with the value gradient ``grad_v``
    (n, d) taken at the observed next state and held constant; rows whose gradient norm exceeds the
    ``clip_quantile`` quantile of norms are scaled down to it (None: no clipping)."""
    if not pred.shape == target.shape == grad_v.shape:
        raise ValueError(f"pred, target and grad_v must share a shape, got {tuple(pred.shape)}, "
                         f"{tuple(target.shape)}, {tuple(grad_v.shape)}")
    w = _clip_rows(grad_v.detach(), clip_quantile)
    return ((w * (pred - target)) ** 2).sum(-1).mean()


def taylor_vaml_loss(pred: torch.Tensor, target: torch.Tensor, grad_v: torch.Tensor) -> torch.Tensor:
    """First-order value-aware loss ``mean_n (grad V(s')^T (f(s, a) - s'))^2``: errors along directions the
    value ignores (and errors that cancel across dimensions) cost nothing, hence its degenerate minimisers."""
    if not pred.shape == target.shape == grad_v.shape:
        raise ValueError(f"pred, target and grad_v must share a shape, got {tuple(pred.shape)}, "
                         f"{tuple(target.shape)}, {tuple(grad_v.shape)}")
    return ((grad_v.detach() * (pred - target)).sum(-1) ** 2).mean()
