"""Unnormalised models ``p(x) = exp(f(x)) / Z``: an energy network, noise-contrastive estimation,
the compositional (MECO) estimator of the log-partition, and the exact log-partition on a 2-D grid.

- :class:`EnergyMLP`: ``E(x)`` (B,), with ``log_unnormalized(x) = -E(x)``;
- :func:`nce_loss`: Gutmann & Hyvarinen (2010), logistic discrimination of data from ``nu`` times as
  many noise draws with the log-odds ``f(x) - log(nu q(x))``;
- :class:`MecoEstimator`: the NLL ``-E_data f + log E_q[exp(f) / q]`` as a two-level compositional
  objective; a moving average ``u`` tracks the inner expectation and the surrogate's gradient is
  ``-grad f(data) + grad E_q[exp(f)/q] / u`` (Jiang et al. 2023, "MECO");
- :func:`grid_log_partition`: ``log int exp(f)`` by the midpoint rule on a 2-D grid.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import logsumexp
from torch import nn

from .nn import MLP
from .validation import positive_float, positive_int


class EnergyMLP(nn.Module):
    """Scalar energy ``E(x)`` of an MLP ``dim -> hidden -> 1`` (SiLU), with a learnable offset when
    ``learn_constant`` (NCE's normalising constant)."""

    def __init__(self, dim: int, hidden: Sequence[int] = (64, 64), *, learn_constant: bool = False,
                 activation: str = "silu", seed: int | None = None):
        super().__init__()
        self.net = MLP([positive_int("dim", dim), *hidden, 1], activation, seed=seed)
        self.constant = nn.Parameter(torch.zeros(())) if learn_constant else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.net(x)[:, 0]
        return e if self.constant is None else e + self.constant

    def log_unnormalized(self, x: torch.Tensor) -> torch.Tensor:
        """``f(x) = -E(x)``, shape (B,)."""
        return -self(x)


def nce_loss(f_data: torch.Tensor, log_q_data: torch.Tensor, f_noise: torch.Tensor, log_q_noise: torch.Tensor,
             *, nu: float | None = None) -> torch.Tensor:
    """NCE: ``-mean log sigmoid(G(x_data)) - nu * mean log(1 - sigmoid(G(x_noise)))`` with
    ``G = f - log q - log nu``. ``f`` must carry the normalising constant (a learned offset); ``nu``
    defaults to n_noise / n_data. At the population optimum ``f = log p_data``."""
    nu = len(f_noise) / len(f_data) if nu is None else positive_float("nu", nu)
    g_data = f_data - log_q_data - math.log(nu)
    g_noise = f_noise - log_q_noise - math.log(nu)
    return -F.logsigmoid(g_data).mean() - nu * F.logsigmoid(-g_noise).mean()


class MecoEstimator:
    """Moving-average estimator of ``log g = log E_q[exp(f) / q]`` and the NLL surrogate.

    Call :meth:`loss` once per step with the current model's ``f`` on a data batch and on a noise batch
    (with the noise log-density); it updates ``u <- (1 - gamma) u + gamma * mean(exp(f - log q))``
    (initialised at the first batch's estimate) and returns ``-mean f_data + mean(exp(f_noise - log q) / u)``,
    whose gradient is MECO's step direction. ``log_u`` holds the running estimate of ``log Z``.
    """

    def __init__(self, gamma: float = 0.1):
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must lie in (0, 1], got {gamma}")
        self.gamma = float(gamma)
        self.log_u: float | None = None

    def loss(self, f_data: torch.Tensor, f_noise: torch.Tensor, log_q_noise: torch.Tensor) -> torch.Tensor:
        log_w = f_noise - log_q_noise
        batch = float(torch.logsumexp(log_w.detach(), 0) - math.log(len(log_w)))
        self.log_u = batch if self.log_u is None else float(np.logaddexp(math.log1p(-self.gamma) + self.log_u,
                                                                          math.log(self.gamma) + batch))
        return -f_data.mean() + torch.exp(log_w - self.log_u).mean()


def grid_log_partition(log_unnormalized: Callable[[np.ndarray], np.ndarray],
                       bounds=((-4.0, 4.0), (-4.0, 4.0)), n: int = 200) -> float:
    """``log int exp(f(x)) dx`` over the box ``bounds`` by the midpoint rule on an n x n grid;
    ``log_unnormalized`` maps (m, 2) points to (m,) values (wrap a torch model with no_grad)."""
    n = positive_int("n", n)
    (x0, x1), (y0, y1) = bounds
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"bounds must be ((x_lo, x_hi), (y_lo, y_hi)) with lo < hi, got {bounds}")
    hx, hy = (x1 - x0) / n, (y1 - y0) / n
    gx, gy = np.meshgrid(x0 + hx * (np.arange(n) + 0.5), y0 + hy * (np.arange(n) + 0.5), indexing="ij")
    values = np.asarray(log_unnormalized(np.stack([gx.ravel(), gy.ravel()], 1)), dtype=float)
    return float(logsumexp(values) + math.log(hx * hy))
