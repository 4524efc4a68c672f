"""Implicit-feedback recommendation: a generator with known hidden positives, matrix factorisation and
the likelihoods of positive-unlabelled feedback.

- :func:`implicit_feedback`: users x items with true positives from a low-rank logit model, of which a
  fraction is observed ("voted") and the rest hidden among the unvoted pairs;
- :class:`MatrixFactorization`: ``r_ui = p_u . q_i + b_i``;
- :func:`bpr_loss` (pairwise), :func:`bernoulli_loglik` (pointwise, voted = 1 and sampled unvoted = 0),
  :func:`label_flip_loglik` (a true positive is left unvoted with probability rho);
- :func:`sample_unvoted` and the top-k metrics :func:`precision_recall_f1_at_k`.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .validation import positive_int


def implicit_feedback(n_users: int, n_items: int, rng: np.random.Generator, *, rank: int = 8,
                      offset: float = 2.0, obs_rate: float = 0.4, test_fraction: float = 0.2,
                      popularity_sd: float = 0.5) -> dict[str, np.ndarray]:
    """Implicit feedback with known ground truth.

    True logits are ``U V^T + b_u + b_i`` (rank ``rank``, unit-variance entries of the product, popularity
    biases N(0, popularity_sd^2)); true positives are Bernoulli(sigmoid(logit - offset)); each true positive
    is voted with probability ``obs_rate`` (missing completely at random); ``test_fraction`` of the voted
    pairs are held out. Returns bool matrices (n_users, n_items) ``positive``, ``train`` (voted, kept),
    ``test`` (voted, held out), ``hidden`` (true positives never voted) and the float ``logit``.
    """
    n_users, n_items, rank = positive_int("n_users", n_users), positive_int("n_items", n_items), positive_int("rank", rank)
    for name, v in (("obs_rate", obs_rate), ("test_fraction", test_fraction)):
        if not 0 < v < 1:
            raise ValueError(f"{name} must be in (0, 1), got {v}")
    U, V = rng.standard_normal((n_users, rank)), rng.standard_normal((n_items, rank))
    logit = U @ V.T / np.sqrt(rank) + popularity_sd * (rng.standard_normal((n_users, 1))
                                                       + rng.standard_normal((1, n_items)))
    positive = rng.random(logit.shape) < 1 / (1 + np.exp(-(logit - offset)))
    voted = positive & (rng.random(logit.shape) < obs_rate)
    test = voted & (rng.random(logit.shape) < test_fraction)
    return {"logit": logit, "positive": positive, "train": voted & ~test, "test": test, "hidden": positive & ~voted}


def sample_unvoted(train, users, rng: np.random.Generator, max_tries: int = 100) -> np.ndarray:
    """One uniformly drawn item per entry of ``users`` that the user has not voted in ``train``
    (n_users, n_items) bool — the sampler BPR and BPO share. Rejection sampling, vectorised."""
    train = np.asarray(train, bool)
    users = np.asarray(users)
    items = rng.integers(0, train.shape[1], len(users))
    for _ in range(positive_int("max_tries", max_tries)):
        bad = train[users, items]
        if not bad.any():
            return items
        items[bad] = rng.integers(0, train.shape[1], int(bad.sum()))
    raise ValueError("could not draw unvoted items: some users have voted (almost) every item")


class MatrixFactorization(nn.Module):
    """Scores ``r_ui = p_u . q_i + b_i`` with N(0, init_sd^2) factors and zero item biases."""

    def __init__(self, n_users: int, n_items: int, dim: int, *, init_sd: float = 0.1, seed: int | None = None):
        super().__init__()
        g = None if seed is None else torch.Generator().manual_seed(seed)
        self.P = nn.Parameter(init_sd * torch.randn(positive_int("n_users", n_users), positive_int("dim", dim), generator=g))
        self.Q = nn.Parameter(init_sd * torch.randn(positive_int("n_items", n_items), dim, generator=g))
        self.b = nn.Parameter(torch.zeros(n_items))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores (n,) of the pairs (users[k], items[k])."""
        return (self.P[users] * self.Q[items]).sum(-1) + self.b[items]

    def all_scores(self) -> torch.Tensor:
        """Scores of every user-item pair (n_users, n_items)."""
        return self.P @ self.Q.T + self.b


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: ``-mean log sigmoid(r_ui - r_uj)`` over (voted i, sampled unvoted j)."""
    return -F.logsigmoid(pos_scores - neg_scores).mean()


def bernoulli_loglik(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Pointwise log-likelihood (BPO), summed: ``sum log sigmoid(r_ui) + sum log(1 - sigmoid(r_uj))``."""
    return F.logsigmoid(pos_scores).sum() + F.logsigmoid(-neg_scores).sum()


def label_flip_loglik(pos_scores, pos_flip_logits, neg_scores, neg_flip_logits) -> torch.Tensor:
    """Observed-label log-likelihood (NBPO) when a true positive is left unvoted with probability
    ``rho = sigmoid(flip_logit)``: ``P(voted) = sigmoid(r) (1 - rho)``, summed as
    ``sum_voted log(sigmoid(r)(1 - rho)) + sum_unvoted log(1 - sigmoid(r)(1 - rho))``. rho = 0 gives
    :func:`bernoulli_loglik`."""
    log_p_voted_pos = F.logsigmoid(pos_scores) + F.logsigmoid(-pos_flip_logits)
    log_p_voted_neg = F.logsigmoid(neg_scores) + F.logsigmoid(-neg_flip_logits)
    return log_p_voted_pos.sum() + torch.log1p(-torch.exp(log_p_voted_neg).clamp(max=1 - 1e-7)).sum()


def precision_recall_f1_at_k(scores, relevant, exclude, k: int) -> dict[str, float]:
    """Mean over users with at least one relevant item of precision@k, recall@k and F1@k of the top-k
    items by ``scores`` (n_users, n_items), after removing ``exclude`` (bool, e.g. training votes)."""
    s = np.where(np.asarray(exclude, bool), -np.inf, np.asarray(scores, float))
    rel = np.asarray(relevant, bool)
    k = positive_int("k", k)
    top = np.argpartition(-s, k - 1, axis=1)[:, :k]
    hits = np.take_along_axis(rel, top, 1).sum(1)
    n_rel = rel.sum(1)
    keep = n_rel > 0
    p, r = hits[keep] / k, hits[keep] / n_rel[keep]
    f1 = np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=(p + r) > 0)
    return {"precision": float(p.mean()), "recall": float(r.mean()), "f1": float(f1.mean())}
