import numpy as np
import pytest
import sacrebleu
from hypothesis import given, settings, strategies as st
from scipy import stats as sps

from shared.text_metrics import (bleu, distinct_n, group_bigram_features, mauve_score,
                                 next_token_divergences)


def test_bleu_matches_sacrebleu_on_joined_tokens():
    rng = np.random.default_rng(0)
    refs = rng.integers(0, 20, size=(30, 10))
    hyps = refs.copy()
    hyps[rng.random(hyps.shape) < 0.3] = 7
    want = sacrebleu.corpus_bleu([" ".join(map(str, h)) for h in hyps],
                                 [[" ".join(map(str, r)) for r in refs]], tokenize="none").score
    assert bleu(hyps, refs) == pytest.approx(want)
    assert bleu(refs, refs) == pytest.approx(100.0)
    assert bleu([[1, 2, 3, 4]], [[5, 6, 7, 8]]) == pytest.approx(0.0)
    assert 0 < bleu(hyps, refs) < 100
    with pytest.raises(ValueError, match="references"):
        bleu(hyps, refs[:3])


def test_distinct_n_by_hand():
    assert distinct_n([[1, 2, 1, 2]], 1) == pytest.approx(0.5)
    assert distinct_n([[1, 2, 1, 2]], 2) == pytest.approx(2 / 3)
    assert distinct_n([[1, 2], [3, 4]], 2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="long enough"):
        distinct_n([[1, 2]], 3)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.integers(0, 4), min_size=3, max_size=8), min_size=1, max_size=6),
       st.integers(1, 3))
def test_distinct_n_lies_in_unit_interval(seqs, n):
    value = distinct_n(seqs, n)
    assert 0 < value <= 1


def test_group_bigram_features():
    tokens = np.array([[0, 1, 2, 3], [3, 3, 3, 3]])
    groups = np.array([0, 0, 1, 1])
    f = group_bigram_features(tokens, groups, 2)
    # pairs (g, g'): row 0 -> (0,0), (0,1), (1,1); row 1 -> (1,1) x 3
    np.testing.assert_allclose(f, [[1 / 3, 1 / 3, 0, 1 / 3], [0, 0, 0, 1]])
    with pytest.raises(ValueError, match="index groups"):
        group_bigram_features(np.array([[0, 5]]), groups, 2)


def test_mauve_is_high_for_one_distribution_and_low_for_two():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(400, 6))
    same = rng.normal(size=(400, 6))
    far = rng.normal(size=(400, 6)) + 4.0
    high = mauve_score(p, same, num_buckets=8)
    assert high > 0.9
    assert mauve_score(p, far, num_buckets=8) < 0.1
    assert mauve_score(p, same, num_buckets=8) == high            # seeded: reproducible
    with pytest.raises(ValueError, match="same d"):
        mauve_score(p, same[:, :3])


def _random_source(rng, shape, V):
    lp = np.log(rng.dirichlet(np.ones(V), size=shape))
    lp[rng.random(lp.shape) < 0.4] = -np.inf
    lp[..., 0] = np.maximum(lp[..., 0], np.log(0.1))                # non-empty support
    return lp - np.logaddexp.reduce(lp, axis=-1, keepdims=True)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), V=st.integers(2, 9))
def test_divergences_vanish_when_the_model_is_the_source(seed, V):
    rng = np.random.default_rng(seed)
    lp = _random_source(rng, (3, 4), V)
    # a softmax model cannot reach exact zeros: put 1e-12 of mass off the support
    lq = np.log(np.where(np.isfinite(lp), np.exp(lp), 1e-12))
    lq -= np.logaddexp.reduce(lq, axis=-1, keepdims=True)
    d = next_token_divergences(lp, lq)
    for key in ("forward_kl", "reverse_kl", "off_support_mass"):
        assert d[key].shape == (3, 4)
        np.testing.assert_allclose(d[key], 0.0, atol=1e-9)


def test_divergences_against_scipy():
    rng = np.random.default_rng(1)
    lp = _random_source(rng, (5,), 7)
    lq = np.log(rng.dirichlet(np.ones(7), size=5))
    d = next_token_divergences(lp, lq)
    p, q = np.exp(lp), np.exp(lq)
    on = np.isfinite(lp)
    for i in range(5):
        assert d["forward_kl"][i] == pytest.approx(sps.entropy(p[i], q[i]))
        q_on = np.where(on[i], q[i], 0.0)
        assert d["off_support_mass"][i] == pytest.approx(1 - q_on.sum())
        assert d["reverse_kl"][i] == pytest.approx(sps.entropy(q_on[on[i]] / q_on.sum(), p[i][on[i]]))
    with pytest.raises(ValueError, match="finite"):
        next_token_divergences(lp, lp)
