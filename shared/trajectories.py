"""Synthetic pedestrians, multimodal trajectory-prediction metrics and the IMLE objective.

Shapes: a prediction set is ``(B, N, T, 2)`` (B agents, N samples, T future steps, x-y), the
ground truth ``(B, T, 2)``, in metres.

- :func:`pedestrian_scenes`: scenes of walking agents with smooth random curvature, occasional turns and
  short-range repulsion;
- :func:`ade_fde_best_of_n`: minimum over the N samples of the average / final displacement error;
- :func:`imle_loss`: squared error of the candidate closest to the target (implicit maximum
  likelihood estimation, Li & Malik 2018), differentiable;
- :func:`amd_amv`: average Mahalanobis distance of the truth to a Gaussian mixture fitted to the
  samples at each step, and the largest eigenvalue of the mixture's average covariance (the metrics
  of Social-Implicit, Mohamed et al. 2022, following its official metric code).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import erf
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from .validation import non_negative_float, positive_float, positive_int


def _check(pred, truth):
    pred, truth = np.asarray(pred, dtype=float), np.asarray(truth, dtype=float)
    if pred.ndim != 4 or truth.ndim != 3 or pred.shape[0] != truth.shape[0] or pred.shape[2:] != truth.shape[1:]:
        raise ValueError(f"predictions must be (B, N, T, d) and truth (B, T, d), got {pred.shape} and {truth.shape}")
    return pred, truth


def ade_fde_best_of_n(pred, truth) -> dict[str, float]:
    """Best-of-N ADE and FDE averaged over agents: for each agent the smallest mean (ADE) and final
    (FDE) Euclidean error over its N samples."""
    pred, truth = _check(pred, truth)
    err = np.linalg.norm(pred - truth[:, None], axis=-1)  # (B, N, T)
    return {"ade": float(err.mean(-1).min(1).mean()), "fde": float(err[..., -1].min(1).mean())}


def imle_loss(candidates: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean_b min_m ||candidates[b, m] - target[b]||^2`` (summed over steps and coordinates):
    only the closest of the m generated candidates is pulled toward each target."""
    if candidates.ndim != target.ndim + 1 or candidates.shape[0] != target.shape[0] \
            or candidates.shape[2:] != target.shape[1:]:
        raise ValueError(f"candidates (B, m, ...) and target (B, ...) disagree: {tuple(candidates.shape)}, "
                         f"{tuple(target.shape)}")
    sq = ((candidates - target[:, None]) ** 2).flatten(2).sum(-1)  # (B, m)
    return sq.min(1).values.mean()


def _best_gmm(x: np.ndarray, max_components: int, seed: int, reg_covar: float) -> GaussianMixture:
    """Full-covariance GMM with BIC early stopping: add components until BIC stops improving."""
    best, best_bic = None, np.inf
    for k in range(1, max_components + 1):
        gmm = GaussianMixture(n_components=k, covariance_type="full", random_state=seed, reg_covar=reg_covar).fit(x)
        bic = gmm.bic(x)
        if bic >= best_bic:
            break
        best, best_bic = gmm, bic
    return best


def _segment_mahalanobis(center, y, weights, means, covs) -> float:
    """Mahalanobis distance of ``y`` from the mixture centre with a metric that averages the components'
    precisions weighted by their probability mass along the segment from y to the centre."""
    v = center - y
    num, den = 0.0, 0.0
    for w, m, c in zip(weights, means, covs):
        prec = np.linalg.pinv(c)
        u = m - y
        b2 = 1.0 / (v @ prec @ v)
        a = b2 * (v @ prec @ u)
        z = u @ prec @ u - b2 * (v @ prec @ u) ** 2
        mass = math.sqrt(math.pi * b2 / 2) * math.exp(-z / 2) * (erf((1 - a) / math.sqrt(2 * b2))
                                                                  - erf(-a / math.sqrt(2 * b2)))
        num = num + w * mass * prec
        den += w * mass
    if not den > 0:  # every segment mass underflowed (e.g. a component fitted to one sample): weights alone
        num = sum(w * np.linalg.pinv(c) for w, c in zip(weights, covs))
        den = float(np.sum(weights))
    return float(math.sqrt(v @ (num / den) @ v))


def amd_amv(pred, truth, *, max_components: int = 4, seed: int = 0, reg_covar: float = 1e-6) -> dict[str, float]:
    """AMD and AMV over agents and steps.

    For each agent and step a full-covariance GMM (BIC early stopping, at most ``max_components``) is
    fitted to the N sampled positions. AMD is the mean Mahalanobis distance of the truth from the
    GMM's weighted centre (see :func:`_segment_mahalanobis`; with one component it is the ordinary
    Mahalanobis distance); AMV is the largest eigenvalue of the mixture's total covariance averaged
    over agents and steps. ``reg_covar`` is scikit-learn's covariance floor for each fit. Where every
    component's mass along the segment underflows, the metric falls back to the mixture weights alone
    (the official code sets that distance to 0). BLAS is held to one thread: the fits are tiny, and
    threads only add contention.
    """
    pred, truth = _check(pred, truth)
    max_components = positive_int("max_components", max_components)
    reg_covar = positive_float("reg_covar", reg_covar)
    with threadpool_limits(1):
        return _amd_amv(pred, truth, max_components, seed, reg_covar)


def _amd_amv(pred, truth, max_components, seed, reg_covar):
    dists, cov_sum, count = [], 0.0, 0
    for b in range(pred.shape[0]):
        for t in range(pred.shape[2]):
            gmm = _best_gmm(pred[b, :, t], max_components, seed, reg_covar)
            w, mu, c = gmm.weights_, gmm.means_, gmm.covariances_
            center = w @ mu
            spread = (w[:, None, None] * np.einsum("ki,kj->kij", mu - center, mu - center)).sum(0)
            cov_sum = cov_sum + (w[:, None, None] * c).sum(0) + spread
            dists.append(_segment_mahalanobis(center, truth[b, t], w, mu, c))
            count += 1
    return {"amd": float(np.mean(dists)), "amv": float(np.abs(np.linalg.eigvals(cov_sum / count)).max())}


def pedestrian_scenes(n_scenes: int, rng: np.random.Generator, *, agents=(3, 6), n_steps: int = 20,
                      speed=(0.35, 0.6), curvature_theta: float = 0.3, curvature_sd: float = 0.05,
                      turn_prob: float = 0.2, turn_angle: float = np.pi / 3, turn_steps: int = 3,
                      turn_window=(6, 14), noise_sd: float = 0.02, repulsion: float = 0.05,
                      repulsion_range: float = 1.0) -> dict[str, np.ndarray]:
    """Walk ``n_scenes`` scenes of ``agents`` (inclusive range) pedestrians for ``n_steps`` steps.

    Each agent starts at a random point of a 10 m square with speed ``U(speed)`` (m/step) and a uniform
    heading. Its turn rate follows an Ornstein-Uhlenbeck process (mean reversion ``curvature_theta``, step sd
    ``curvature_sd`` rad); with probability ``turn_prob`` it makes one turn of +-``turn_angle`` spread over
    ``turn_steps`` steps, starting at a step drawn from ``turn_window``. Agents closer than
    ``repulsion_range`` push each other apart by ``repulsion * (1 - d / range)`` m per step, and every step
    gets N(0, ``noise_sd``^2) noise.

    Returns ``positions`` (n_agents_total, n_steps, 2), ``scene`` (n_agents_total,) scene index and
    ``turned`` (n_agents_total,) bool.
    """
    n_scenes, n_steps = positive_int("n_scenes", n_scenes), positive_int("n_steps", n_steps)
    noise_sd, repulsion = non_negative_float("noise_sd", noise_sd), non_negative_float("repulsion", repulsion)
    lo, hi = agents
    if not 1 <= lo <= hi:
        raise ValueError(f"agents must be a range (lo, hi) with 1 <= lo <= hi, got {agents}")
    out_pos, out_scene, out_turn = [], [], []
    for s in range(n_scenes):
        m = int(rng.integers(lo, hi + 1))
        pos = rng.uniform(0.0, 10.0, size=(m, 2))
        heading = rng.uniform(0.0, 2 * np.pi, size=m)
        v = rng.uniform(*speed, size=m)
        omega = np.zeros(m)
        turned = rng.random(m) < turn_prob
        turn_start = rng.integers(turn_window[0], turn_window[1] + 1, size=m)
        turn_sign = rng.choice([-1.0, 1.0], size=m)
        path = np.empty((m, n_steps, 2))
        for t in range(n_steps):
            omega = omega - curvature_theta * omega + curvature_sd * rng.standard_normal(m)
            in_turn = turned & (t >= turn_start) & (t < turn_start + turn_steps)
            heading = heading + omega + np.where(in_turn, turn_sign * turn_angle / turn_steps, 0.0)
            step = v[:, None] * np.stack([np.cos(heading), np.sin(heading)], 1)
            diff = pos[:, None, :] - pos[None, :, :]
            dist = np.linalg.norm(diff, axis=-1) + np.eye(m) * 1e9
            push = np.clip(1.0 - dist / repulsion_range, 0.0, None)[..., None] * diff / dist[..., None]
            pos = pos + step + repulsion * push.sum(1) + noise_sd * rng.standard_normal((m, 2))
            path[:, t] = pos
        out_pos.append(path)
        out_scene.append(np.full(m, s))
        out_turn.append(turned)
    return {"positions": np.concatenate(out_pos), "scene": np.concatenate(out_scene),
            "turned": np.concatenate(out_turn)}
