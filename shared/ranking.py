"""Learning to rank from clicks: synthetic ranking data, the position-based click model, the
inverse-propensity-weighted listwise loss and the ranking metrics.

- :func:`synthetic_ltr`: queries of ``n_docs`` documents with Gaussian features and graded relevance
  0..4 from quantiles of a fixed random two-layer score;
- :func:`pbm_clicks`: clicks under examination ``(1/k)^eta`` times a relevance-dependent click probability;
- :func:`ipw_listwise_softmax_loss`: ``-sum_{clicked i} w_i log softmax(s)_i`` per list;
- :func:`dcg_at_k`, :func:`ndcg_at_k` (exponential gains ``2^y - 1``), :func:`err_at_k`.
Lists are rows: arrays of shape (n_lists, n_docs).
"""
from __future__ import annotations

import numpy as np
import torch

from .validation import non_negative_float, positive_int

RELEVANCE_QUANTILES = (0.50, 0.75, 0.88, 0.96)  # grades 0..4 in proportions 50/25/13/8/4 %
MAX_GRADE = 4


def synthetic_ltr(n_queries: int, n_docs: int, n_features: int, rng: np.random.Generator, *,
                  hidden: int = 32, noise: float = 0.5, score_seed: int = 0) -> dict[str, np.ndarray]:
    """Synthetic learning-to-rank data.

    Features are N(0, I); the true score is a fixed random two-layer tanh network of the features (drawn
    from ``score_seed``, so every call with one seed shares the ranking function) plus N(0, noise^2); grades
    0..4 cut the scores of this draw at :data:`RELEVANCE_QUANTILES`.

    Returns ``features`` (n_queries, n_docs, n_features), ``score`` (n_queries, n_docs) and ``labels``
    (n_queries, n_docs) integers in 0..4.
    """
    n_queries, n_docs = positive_int("n_queries", n_queries), positive_int("n_docs", n_docs)
    n_features, hidden = positive_int("n_features", n_features), positive_int("hidden", hidden)
    f_rng = np.random.default_rng(score_seed)
    W1 = f_rng.standard_normal((n_features, hidden)) / np.sqrt(n_features)
    w2 = f_rng.standard_normal(hidden) / np.sqrt(hidden)
    X = rng.standard_normal((n_queries, n_docs, n_features))
    score = np.tanh(X @ W1) @ w2
    score = score / score.std() + non_negative_float("noise", noise) * rng.standard_normal(score.shape)
    cuts = np.quantile(score, RELEVANCE_QUANTILES)
    return {"features": X, "score": score, "labels": np.searchsorted(cuts, score)}


def examination(n_positions: int, eta: float) -> np.ndarray:
    """Position-based examination probabilities ``(1/k)^eta`` for k = 1..n_positions."""
    return (1.0 / np.arange(1, positive_int("n_positions", n_positions) + 1)) ** non_negative_float("eta", eta)


def pbm_clicks(labels, eta: float, rng: np.random.Generator, *, eps: float = 0.1) -> np.ndarray:
    """Clicks (n_lists, n_positions) bool on lists whose grades ``labels`` are in displayed order:
    a document at rank k is examined with probability ``(1/k)^eta`` and, if examined, clicked with
    probability ``eps + (1 - eps) (2^y - 1) / (2^4 - 1)``."""
    y = np.asarray(labels)
    if y.ndim != 2 or y.min() < 0 or y.max() > MAX_GRADE:
        raise ValueError(f"labels must be (n_lists, n_positions) grades in 0..{MAX_GRADE}")
    if not 0 <= eps <= 1:
        raise ValueError(f"eps must be in [0, 1], got {eps}")
    attract = eps + (1 - eps) * (2.0 ** y - 1) / (2.0 ** MAX_GRADE - 1)
    return rng.random(y.shape) < examination(y.shape[1], eta)[None, :] * attract


def ipw_listwise_softmax_loss(scores: torch.Tensor, clicks: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Inverse-propensity-weighted listwise softmax cross-entropy, averaged over lists:
    ``mean_q -sum_i c_qi w_qi log softmax(s_q)_i`` for ``scores``, ``clicks`` and ``weights`` (n_lists, n_docs)."""
    if not scores.shape == clicks.shape == weights.shape:
        raise ValueError(f"scores, clicks and weights must share a shape, got {tuple(scores.shape)}, "
                         f"{tuple(clicks.shape)}, {tuple(weights.shape)}")
    return -(clicks.to(scores.dtype) * weights * torch.log_softmax(scores, dim=-1)).sum(-1).mean()


def _ranked_labels(labels, scores, k):
    y, s = np.asarray(labels, float), np.asarray(scores, float)
    if y.shape != s.shape or y.ndim != 2:
        raise ValueError(f"labels and scores must share a (n_lists, n_docs) shape, got {y.shape} and {s.shape}")
    k = min(positive_int("k", k), y.shape[1])
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(y, order, 1), k


def dcg_at_k(labels, scores, k: int) -> np.ndarray:
    """DCG@k per list with gains ``2^y - 1`` and discount ``1 / log2(rank + 1)`` (documents sorted by score)."""
    ranked, k = _ranked_labels(labels, scores, k)
    return ((2.0 ** ranked - 1) / np.log2(np.arange(2, k + 2))).sum(1)


def ndcg_at_k(labels, scores, k: int) -> np.ndarray:
    """NDCG@k per list (n_lists,): DCG@k over the DCG@k of the ideal order; 0 for a list with no relevant
    document. With gains ``2^y - 1`` this equals scikit-learn's ``ndcg_score`` on ``2^y - 1``."""
    y = np.asarray(labels, float)
    ideal = dcg_at_k(y, y, k)
    dcg = dcg_at_k(y, scores, k)
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


def err_at_k(labels, scores, k: int, max_grade: int = MAX_GRADE) -> np.ndarray:
    """Expected reciprocal rank ERR@k per list (Chapelle et al. 2009): a user scans down the ranking and
    stops at rank r with probability ``R_r = (2^y - 1) / 2^max_grade``; ERR = ``E[1 / stopping rank]``."""
    ranked, k = _ranked_labels(labels, scores, k)
    R = (2.0 ** ranked - 1) / 2.0 ** max_grade
    survive = np.cumprod(np.c_[np.ones(len(R)), 1 - R[:, :-1]], axis=1)
    return (survive * R / np.arange(1, k + 1)).sum(1)
