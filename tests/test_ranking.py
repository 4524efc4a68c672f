import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from sklearn.metrics import ndcg_score

from shared.ranking import (dcg_at_k, err_at_k, examination, ipw_listwise_softmax_loss, ndcg_at_k, pbm_clicks,
                            synthetic_ltr)

torch.set_num_threads(1)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 12))
def test_ndcg_equals_sklearn_on_exponential_gains(seed, k):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, (6, 10))
    y[:, 0] = np.maximum(y[:, 0], 1)  # sklearn scores an all-zero list 0 as well, keep lists comparable
    s = rng.standard_normal((6, 10))
    got = ndcg_at_k(y, s, k)
    want = [ndcg_score([2.0 ** y[i] - 1], [s[i]], k=k) for i in range(6)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_ndcg_is_one_for_the_ideal_order_and_zero_without_relevant_documents():
    y = np.array([[3, 0, 2, 1], [0, 0, 0, 0]])
    np.testing.assert_allclose(ndcg_at_k(y, y, 4), [1.0, 0.0])
    assert dcg_at_k([[1, 0]], [[0.0, 1.0]], 2)[0] == pytest.approx(1 / np.log2(3))


def test_err_by_hand():
    y, s = np.array([[4, 0, 2]]), np.array([[0.1, 0.9, 0.5]])  # shown order: grades 0, 2, 4
    R = np.array([0.0, 3 / 16, 15 / 16])
    want = R[0] + (1 - R[0]) * R[1] / 2 + (1 - R[0]) * (1 - R[1]) * R[2] / 3
    assert err_at_k(y, s, 3)[0] == pytest.approx(want)
    assert err_at_k(y, s, 1)[0] == 0.0


def test_pbm_click_rates_match_examination_times_attractiveness():
    rng = np.random.default_rng(0)
    y = np.tile([4, 0, 2, 1], (200_000, 1))
    c = pbm_clicks(y, 1.0, rng, eps=0.1)
    attract = 0.1 + 0.9 * (2.0 ** np.array([4, 0, 2, 1]) - 1) / 15
    np.testing.assert_allclose(c.mean(0), examination(4, 1.0) * attract, atol=4e-3)
    with pytest.raises(ValueError, match="grades"):
        pbm_clicks(np.array([[5]]), 1.0, rng)


def test_synthetic_ltr_grades_follow_the_quantiles_and_share_the_score_function():
    a = synthetic_ltr(400, 10, 8, np.random.default_rng(0))
    np.testing.assert_allclose(np.bincount(a["labels"].ravel(), minlength=5) / 4000, [0.5, 0.25, 0.13, 0.08, 0.04],
                               atol=1e-3)
    assert a["features"].shape == (400, 10, 8)
    b = synthetic_ltr(400, 10, 8, np.random.default_rng(1), noise=0.0)
    c = synthetic_ltr(400, 10, 8, np.random.default_rng(1), noise=0.0, score_seed=5)
    assert not np.allclose(b["score"], c["score"])


def test_ipw_loss_is_weighted_cross_entropy_and_unbiased_under_the_pbm():
    s = torch.tensor([[2.0, 0.0, -1.0]])
    c = torch.tensor([[0.0, 1.0, 1.0]])
    w = torch.tensor([[1.0, 2.0, 3.0]])
    logp = torch.log_softmax(s, -1)[0]
    assert ipw_listwise_softmax_loss(s, c, w).item() == pytest.approx(-(2 * logp[1] + 3 * logp[2]).item())
    # weighting clicks by 1/examination recovers the relevance-only expectation
    rng = np.random.default_rng(1)
    y = np.tile([1, 3, 0], (100_000, 1))
    clicks = torch.tensor(pbm_clicks(y, 1.5, rng, eps=0.0), dtype=torch.float64)
    inv = torch.tensor(1 / examination(3, 1.5)).expand_as(clicks)
    s3 = torch.zeros(1, 3, dtype=torch.float64).expand_as(clicks)
    got = ipw_listwise_softmax_loss(s3, clicks, inv).item()
    want = np.log(3) * ((2.0 ** np.array([1, 3, 0]) - 1) / 15).sum()
    assert got == pytest.approx(want, rel=0.02)
