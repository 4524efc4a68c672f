"""Distributions over binary vectors with exact marginals, and any-order models of them.

- :func:`enumerate_states`, :class:`BernoulliMixture` (exact marginals of any subset, numpy);
- :class:`MaskedMLP`, :func:`ao_arm_loss`, :func:`chain_log_marginal`: any-order autoregressive models (torch);
- :func:`self_consistency_loss`: the marginalisation self-consistency of a marginal network.

A marginal over a subset S of the D variables is given by a boolean ``mask`` (True = observed): for a
mixture of product Bernoullis it is exact in closed form, ``sum_k w_k prod_{i in S} p_ki^x_i (1 - p_ki)^(1 - x_i)``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import logsumexp
from torch import nn

from .nn import MLP
from .validation import positive_int

MAX_ENUMERATION = 20


def enumerate_states(d: int) -> np.ndarray:
    """All 2^d binary vectors as a (2^d, d) int array, in binary counting order (d <= 20)."""
    d = positive_int("d", d)
    if d > MAX_ENUMERATION:
        raise ValueError(f"d = {d} has 2^{d} states; enumeration is limited to d <= {MAX_ENUMERATION}")
    return ((np.arange(2 ** d)[:, None] >> np.arange(d - 1, -1, -1)) & 1).astype(np.int64)


class BernoulliMixture:
    """``p(x) = sum_k w_k prod_i p_ki^x_i (1 - p_ki)^(1 - x_i)`` on {0, 1}^D.

    Parameters
    ----------
    weights : (K,) non-negative, summing to 1
    probs : (K, D) in the open interval (0, 1)
    """

    def __init__(self, weights, probs):
        probs = np.asarray(probs, dtype=float)
        if probs.ndim != 2 or np.any(probs <= 0) or np.any(probs >= 1):
            raise ValueError("probs must be a (K, D) array of values strictly between 0 and 1")
        k, self.dim = probs.shape
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (k,) or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise ValueError(f"weights must be {k} non-negative numbers summing to 1")
        self.weights, self.probs, self.n_components = weights / weights.sum(), probs, k

    @classmethod
    def random(cls, n_components: int, dim: int, rng: np.random.Generator, *, concentration: float = 1.0,
               beta: float = 0.5) -> "BernoulliMixture":
        """Weights ~ Dirichlet(concentration), probs ~ Beta(beta, beta) clipped to [0.01, 0.99]."""
        w = rng.dirichlet(np.full(positive_int("n_components", n_components), concentration))
        p = np.clip(rng.beta(beta, beta, size=(n_components, positive_int("dim", dim))), 0.01, 0.99)
        return cls(w, p)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, D) int draws."""
        comp = rng.choice(self.n_components, size=positive_int("n", n), p=self.weights)
        return (rng.random((n, self.dim)) < self.probs[comp]).astype(np.int64)

    def _check(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.dim or not np.all((x == 0) | (x == 1)):
            raise ValueError(f"x must be a (n, {self.dim}) array of 0s and 1s")
        return x.astype(float)

    def log_marginal(self, x, mask) -> np.ndarray:
        """``log p(x_S)`` per row, with S = the True entries of ``mask`` ((n, D) or (D,)); unobserved
        entries of ``x`` are ignored. An all-False mask gives 0."""
        x = self._check(x)
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), x.shape)
        logp, log1p = np.log(self.probs), np.log1p(-self.probs)
        per = x[:, None, :] * logp[None] + (1 - x[:, None, :]) * log1p[None]  # (n, K, D)
        return logsumexp(np.log(self.weights)[None] + (per * mask[:, None, :]).sum(-1), axis=1)

    def logpmf(self, x) -> np.ndarray:
        """``log p(x)`` of full vectors, (n,)."""
        return self.log_marginal(x, np.ones(self.dim, dtype=bool))

    def conditional_prob(self, x, mask, i: int) -> np.ndarray:
        """``p(x_i = 1 | x_S)`` per row (S = mask, i not in S), by two marginals."""
        x = self._check(x).copy()
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), x.shape).copy()
        if np.any(mask[:, i]):
            raise ValueError(f"variable {i} is already observed")
        base = self.log_marginal(x, mask)
        x[:, i], mask[:, i] = 1, True
        return np.exp(self.log_marginal(x, mask) - base)


# ---------------------------------------------------------------- any-order models (torch)


class MaskedMLP(nn.Module):
    """MLP on ``[x * mask, mask]`` (2D inputs) with ``out`` outputs: ``out = D`` gives an any-order
    autoregressive model's logits of p(x_i = 1 | x_S); ``out = 1`` a marginal network's log p(x_S), pinned to
    0 at the empty set by subtracting its value there."""

    def __init__(self, dim: int, hidden=(256, 256), out: int | None = None, *, activation: str = "silu",
                 seed: int | None = None):
        super().__init__()
        self.dim = positive_int("dim", dim)
        self.out = self.dim if out is None else positive_int("out", out)
        self.net = MLP([2 * self.dim, *hidden, self.out], activation, seed=seed)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.to(x.dtype)
        y = self.net(torch.cat([x * m, m], dim=1))
        if self.out == 1:
            empty = self.net(torch.zeros(1, 2 * self.dim, dtype=x.dtype, device=x.device))
            return (y - empty)[:, 0]
        return y


def _orders(n: int, d: int, generator: torch.Generator) -> torch.Tensor:
    return torch.argsort(torch.rand(n, d, generator=generator), dim=1)


def _prefix_mask(order: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """mask[b, order[b, j]] = j < k[b]."""
    rank = torch.argsort(order, dim=1)
    return rank < k[:, None]


def _log_cond(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x_i | .) from Bernoulli logits, elementwise."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def ao_arm_loss(conditional_logits, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Any-order ARM training loss (Uria et al. 2014; Hoogeboom et al. 2022): for a random order and a
    uniform prefix length k, ``D / (D - k) * sum_{i not in prefix} -log p(x_i | x_prefix)``, averaged; an
    unbiased estimate of the NLL upper bound. ``conditional_logits(x, mask)`` -> (n, D) logits."""
    n, d = x.shape
    order = _orders(n, d, generator)
    k = torch.randint(0, d, (n,), generator=generator)
    mask = _prefix_mask(order, k)
    nll = -(_log_cond(conditional_logits(x, mask), x) * (~mask)).sum(1)
    return (nll * d / (d - k).to(x.dtype)).mean()


def chain_log_marginal(conditional_logits, x: torch.Tensor, mask: torch.Tensor,
                       generator: torch.Generator) -> torch.Tensor:
    """``log p(x_S)`` (n,) by the chain rule over a random order of S: |S| sequential conditional calls."""
    n, d = x.shape
    mask = mask.bool().expand(n, d)
    keys = torch.rand(n, d, generator=generator) + (~mask).to(x.dtype)  # observed variables first
    order = torch.argsort(keys, dim=1)
    total = torch.zeros(n, dtype=x.dtype)
    sizes = mask.sum(1)
    seen = torch.zeros(n, d, dtype=torch.bool)
    rows = torch.arange(n)
    for j in range(int(sizes.max())):
        idx = order[:, j]
        lp = _log_cond(conditional_logits(x, seen), x).gather(1, idx[:, None])[:, 0]
        total = total + torch.where(j < sizes, lp, torch.zeros_like(lp))
        seen = seen.clone()  # the caller's network may keep a reference to the mask it was given
        seen[rows, idx] = True
    return total


def self_consistency_loss(log_marginal, conditional_logits, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Marginalisation self-consistency (Liu et al. 2023, marginalization models): for a random order and
    step k, ``(log p(x_{<k}) + log p(x_{order_k} | x_{<k}) - log p(x_{<=k}))^2``, averaged.
    ``log_marginal(x, mask)`` -> (n,); ``conditional_logits(x, mask)`` -> (n, D)."""
    n, d = x.shape
    order = _orders(n, d, generator)
    k = torch.randint(0, d, (n,), generator=generator)
    before, after = _prefix_mask(order, k), _prefix_mask(order, k + 1)
    nxt = order.gather(1, k[:, None])[:, 0]
    cond = _log_cond(conditional_logits(x, before), x).gather(1, nxt[:, None])[:, 0]
    resid = log_marginal(x, before) + cond - log_marginal(x, after)
    return (resid ** 2).mean()
