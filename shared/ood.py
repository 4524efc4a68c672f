"""Out-of-distribution scoring and its metrics: AUROC, FPR at 95% TPR and AUPR (scikit-learn
underneath), Mahalanobis and k-NN scores on features, Sinkhorn assignment (POT) and EMA updates.

Convention: a *higher* score means *more OOD*. Metrics treat OOD as the positive class.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from .validation import positive_float, positive_int


def _scores(s, name: str) -> np.ndarray:
    s = np.asarray(s, dtype=float).ravel()
    if s.size == 0 or not np.all(np.isfinite(s)):
        raise ValueError(f"{name} must be a non-empty array of finite scores")
    return s


def ood_metrics(scores_id, scores_ood) -> dict[str, float]:
    """``auroc``, ``fpr95`` (share of in-distribution points flagged when 95% of OOD points are) and
    ``aupr`` (average precision with OOD positive) for scores where higher means more OOD."""
    s_id, s_ood = _scores(scores_id, "scores_id"), _scores(scores_ood, "scores_ood")
    y = np.r_[np.zeros(len(s_id)), np.ones(len(s_ood))]
    s = np.r_[s_id, s_ood]
    fpr, tpr, _ = roc_curve(y, s)
    return {"auroc": float(roc_auc_score(y, s)), "fpr95": float(fpr[np.searchsorted(tpr, 0.95, side="left")]),
            "aupr": float(average_precision_score(y, s))}


def mahalanobis_score(train_features, train_labels, features) -> np.ndarray:
    """Minimum Mahalanobis distance (squared) to the class means under the shared within-class covariance
    (Lee et al. 2018), per row of ``features`` (n, k): higher = more OOD."""
    f = np.asarray(train_features, dtype=float)
    y = np.asarray(train_labels)
    x = np.asarray(features, dtype=float)
    if f.ndim != 2 or x.ndim != 2 or f.shape[1] != x.shape[1] or len(y) != len(f):
        raise ValueError("train_features (n, k), train_labels (n,) and features (m, k) must agree")
    classes = np.unique(y)
    means = np.stack([f[y == c].mean(0) for c in classes])
    centred = f - means[np.searchsorted(classes, y)]
    prec = np.linalg.pinv(centred.T @ centred / len(f))
    d = x[:, None, :] - means[None]
    return np.einsum("nck,kl,ncl->nc", d, prec, d).min(1)


def knn_score(train_features, features, k: int = 10) -> np.ndarray:
    """Distance to the k-th nearest training feature after L2 normalisation (Sun et al. 2022): higher = more OOD."""
    k = positive_int("k", k)
    f = np.asarray(train_features, dtype=float)
    x = np.asarray(features, dtype=float)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    if k > len(f):
        raise ValueError(f"k={k} exceeds the {len(f)} training features")
    d = np.sqrt(np.maximum(2.0 - 2.0 * x @ f.T, 0.0))
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def sinkhorn_assign(scores, *, eps: float = 0.05, n_iter: int = 3) -> np.ndarray:
    """Soft assignment (n, K) of n points to K prototypes with equal prototype mass: ``n_iter`` Sinkhorn-Knopp
    iterations on ``exp(scores / eps)`` (POT; each iteration balances the prototypes, then the points, as in
    SwAV and PALM's official code), rows summing to 1."""
    import ot

    s = np.asarray(scores, dtype=float)
    eps, n_iter = positive_float("eps", eps), positive_int("n_iter", n_iter)
    n, k = s.shape
    # a few unconverged iterations are the method (SwAV / PALM), hence no convergence warning
    plan = ot.sinkhorn(np.full(n, 1.0 / n), np.full(k, 1.0 / k), -s, reg=eps, numItermax=n_iter, warn=False)
    return plan / plan.sum(1, keepdims=True)


@torch.no_grad()
def ema_update(target: torch.nn.Module, source: torch.nn.Module, rate: float) -> None:
    """``target <- rate * target + (1 - rate) * source`` for every parameter, in place."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must lie in [0, 1], got {rate}")
    for pt, ps in zip(target.parameters(), source.parameters()):
        pt.mul_(rate).add_(ps, alpha=1.0 - rate)
