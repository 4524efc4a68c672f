import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from shared.ood import ema_update, knn_score, mahalanobis_score, ood_metrics, sinkhorn_assign


def test_ood_metrics_against_sklearn_and_by_hand():
    rng = np.random.default_rng(0)
    s_id, s_ood = rng.normal(0, 1, 500), rng.normal(2, 1, 400)
    m = ood_metrics(s_id, s_ood)
    assert m["auroc"] == pytest.approx(roc_auc_score(np.r_[np.zeros(500), np.ones(400)], np.r_[s_id, s_ood]))
    thr = np.quantile(s_ood, 0.05)  # 95% of OOD scores lie above
    assert m["fpr95"] == pytest.approx(np.mean(s_id >= thr), abs=0.01)
    assert 0.5 < m["aupr"] <= 1
    perfect = ood_metrics([0, 1, 2], [5, 6])
    assert perfect == {"auroc": 1.0, "fpr95": 0.0, "aupr": 1.0}
    with pytest.raises(ValueError, match="finite"):
        ood_metrics([np.nan], [1.0])


def test_mahalanobis_matches_a_direct_computation():
    rng = np.random.default_rng(1)
    f = np.r_[rng.normal(0, 1, (100, 3)), rng.normal(3, 1, (100, 3))]
    y = np.r_[np.zeros(100), np.ones(100)]
    x = rng.normal(1, 2, (10, 3))
    mu = [f[y == c].mean(0) for c in (0, 1)]
    c = sum(((f[y == k] - mu[k]).T @ (f[y == k] - mu[k])) for k in (0, 1)) / 200
    want = np.min([[(xi - m) @ np.linalg.inv(c) @ (xi - m) for m in mu] for xi in x], axis=1)
    np.testing.assert_allclose(mahalanobis_score(f, y, x), want, rtol=1e-8)


def test_knn_matches_sklearn_on_normalised_features():
    rng = np.random.default_rng(2)
    f, x = rng.normal(size=(50, 4)), rng.normal(size=(7, 4))
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
    d, _ = NearestNeighbors(n_neighbors=5).fit(unit(f)).kneighbors(unit(x))
    np.testing.assert_allclose(knn_score(f, x, k=5), d[:, -1], atol=1e-10)


def test_sinkhorn_balances_prototypes_and_ema_interpolates():
    rng = np.random.default_rng(3)
    q = sinkhorn_assign(rng.normal(size=(40, 4)), eps=0.5, n_iter=200)
    np.testing.assert_allclose(q.sum(1), 1.0)
    np.testing.assert_allclose(q.sum(0), 10.0, rtol=1e-3)  # equal mass per prototype
    # three iterations equal the SwAV / PALM alternating normalisation
    scores = rng.normal(size=(12, 3))
    q_ref = np.exp(scores / 0.1)
    for _ in range(3):
        q_ref = q_ref / q_ref.sum(0, keepdims=True) / 3
        q_ref = q_ref / q_ref.sum(1, keepdims=True) / 12
    np.testing.assert_allclose(sinkhorn_assign(scores, eps=0.1, n_iter=3), q_ref * 12, rtol=1e-8)
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    wa, wb = a.weight.detach().clone(), b.weight.detach().clone()
    ema_update(a, b, 0.9)
    torch.testing.assert_close(a.weight, 0.9 * wa + 0.1 * wb)
