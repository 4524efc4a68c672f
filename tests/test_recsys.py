import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from shared.recsys import (MatrixFactorization, bernoulli_loglik, bpr_loss, implicit_feedback, label_flip_loglik,
                           precision_recall_f1_at_k, sample_unvoted)

torch.set_num_threads(1)


def test_implicit_feedback_partitions_the_true_positives():
    d = implicit_feedback(300, 200, np.random.default_rng(0), obs_rate=0.4, test_fraction=0.2)
    assert not np.any(d["train"] & d["test"]) and not np.any(d["hidden"] & (d["train"] | d["test"]))
    np.testing.assert_array_equal(d["train"] | d["test"] | d["hidden"], d["positive"])
    voted = (d["train"] | d["test"]).sum() / d["positive"].sum()
    assert voted == pytest.approx(0.4, abs=0.02)
    assert d["test"].sum() / (d["train"] | d["test"]).sum() == pytest.approx(0.2, abs=0.02)
    with pytest.raises(ValueError, match="obs_rate"):
        implicit_feedback(3, 3, np.random.default_rng(0), obs_rate=1.0)


def test_sample_unvoted_is_uniform_over_the_unvoted_items():
    train = np.zeros((2, 5), bool)
    train[0, [1, 3]] = True
    users = np.zeros(60_000, int)
    items = sample_unvoted(train, users, np.random.default_rng(0))
    assert not train[users, items].any()
    np.testing.assert_allclose(np.bincount(items, minlength=5)[[0, 2, 4]] / 60_000, 1 / 3, atol=0.01)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_likelihoods_match_torch_bernoulli(seed):
    g = torch.Generator().manual_seed(seed)
    rp, rn, fp, fn = (3 * torch.randn(6, generator=g, dtype=torch.float64) for _ in range(4))
    B = torch.distributions.Bernoulli
    want_bpo = B(logits=rp).log_prob(torch.ones(6, dtype=torch.float64)).sum() + B(logits=rn).log_prob(torch.zeros(6, dtype=torch.float64)).sum()
    torch.testing.assert_close(bernoulli_loglik(rp, rn), want_bpo)
    pv = lambda r, f: torch.sigmoid(r) * (1 - torch.sigmoid(f))
    want_flip = B(probs=pv(rp, fp)).log_prob(torch.ones(6, dtype=torch.float64)).sum() + B(probs=pv(rn, fn)).log_prob(torch.zeros(6, dtype=torch.float64)).sum()
    torch.testing.assert_close(label_flip_loglik(rp, fp, rn, fn), want_flip)
    never = torch.full((6,), -60.0, dtype=torch.float64)  # rho ~ 0
    torch.testing.assert_close(label_flip_loglik(rp, never, rn, never), want_bpo)


def test_bpr_loss_and_matrix_factorization():
    pos, neg = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])
    want = -np.mean(np.log(1 / (1 + np.exp(-np.array([2.0, -1.0])))))
    assert bpr_loss(pos, neg).item() == pytest.approx(want)
    mf = MatrixFactorization(4, 3, 2, seed=0)
    u, i = torch.tensor([0, 3, 3]), torch.tensor([2, 0, 1])
    torch.testing.assert_close(mf(u, i), mf.all_scores()[u, i])


def test_top_k_metrics_by_hand():
    scores = np.array([[0.9, 0.8, 0.1, 0.5], [0.1, 0.2, 0.3, 0.4], [1.0, 0.0, 0.0, 0.0]])
    relevant = np.array([[1, 0, 0, 1], [0, 0, 0, 0], [0, 1, 1, 0]], bool)
    exclude = np.array([[0, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]], bool)
    m = precision_recall_f1_at_k(scores, relevant, exclude, 2)
    # user 0: top-2 after excluding item 1 = items 0, 3 -> 2 hits; user 2: top-2 of items 1-3 has >= 1 hit
    top2 = np.argsort(-np.where(exclude[2], -np.inf, scores[2]), kind="stable")[:2]
    h2 = relevant[2, top2].sum()
    p = np.array([1.0, h2 / 2])
    r = np.array([1.0, h2 / 2])
    assert m["precision"] == pytest.approx(p.mean()) and m["recall"] == pytest.approx(r.mean())
    assert m["f1"] == pytest.approx(np.mean(2 * p * r / (p + r)))
