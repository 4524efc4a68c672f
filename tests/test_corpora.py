import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats as sps

from shared.corpora import (ClusteredMarkovLanguage, Vocab, addsub_in_base, corrupt_targets,
                            fictitious_facts, modular_sum, running_sum)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), K=st.sampled_from([1, 2, 3]), size=st.integers(1, 3))
def test_markov_language_likelihood_sums_to_one_over_all_sequences(seed, K, size):
    lang = ClusteredMarkovLanguage(K * size, K, 3, n_successors=(1, K), seed=seed)
    words = list(itertools.product(range(lang.vocab_size), repeat=3))
    seqs = np.array([(lang.bos,) + w for w in words])
    with np.errstate(divide="ignore"):
        total = np.exp(lang.logprob(seqs)).sum()
    assert total == pytest.approx(1.0, abs=1e-10)


def test_markov_language_samples_follow_the_exact_likelihood_and_stay_on_support():
    lang = ClusteredMarkovLanguage(6, 3, 2, seed=4)
    x = lang.sample(30_000, np.random.default_rng(0))
    assert (x[:, 0] == lang.bos).all()
    assert np.isfinite(lang.logprob(x)).all()
    codes = x[:, 1] * 6 + x[:, 2]
    counts = np.bincount(codes, minlength=36)
    seqs = np.array([(lang.bos, a, b) for a in range(6) for b in range(6)])
    with np.errstate(divide="ignore"):
        p = np.exp(lang.logprob(seqs))
    seen = p > 0
    assert counts[~seen].sum() == 0
    assert sps.chisquare(counts[seen], p[seen] * counts.sum()).pvalue > 1e-3


def test_markov_language_structure():
    lang = ClusteredMarkovLanguage(64, 8, 24, n_successors=(2, 3), seed=0)
    assert lang.n_tokens == 65 and lang.block_size == 25
    np.testing.assert_allclose(lang.transition.sum(1), 1.0)
    assert set((lang.transition > 0).sum(1)) <= {2, 3}
    np.testing.assert_allclose(np.bincount(lang.cluster, weights=lang.emission), 1.0)
    x = lang.sample(10, np.random.default_rng(1))
    lp = lang.next_token_logprobs(x)
    assert lp.shape == (10, 25, 64)
    np.testing.assert_allclose(np.exp(lp).sum(-1), 1.0)
    # token_logprobs reads the same table
    np.testing.assert_allclose(lang.token_logprobs(x), np.take_along_axis(lp[:, :-1], x[:, 1:, None], 2)[..., 0])
    assert (lang.support(x) == np.isfinite(lp)).all()
    # the source is first order: the row depends on the last token only
    np.testing.assert_allclose(lp[0, 5], lang.next_token_logprobs(x[0, 5:6])[0])


def test_markov_language_embedding_separates_clusters():
    lang = ClusteredMarkovLanguage(16, 4, 5, seed=0)
    e = lang.embedding(0.1, np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0)
    cos = e @ e.T
    same = lang.cluster[:, None] == lang.cluster[None, :]
    assert cos[same].min() > cos[~same].max()


def test_markov_language_rejects_bad_input():
    with pytest.raises(ValueError, match="multiple of n_clusters"):
        ClusteredMarkovLanguage(10, 3, 4)
    with pytest.raises(ValueError, match="n_successors"):
        ClusteredMarkovLanguage(8, 2, 4, n_successors=(2, 3))
    lang = ClusteredMarkovLanguage(8, 2, 4, n_successors=(1, 2))
    with pytest.raises(ValueError, match="token ids"):
        lang.next_token_logprobs(np.array([[9]]))
    with pytest.raises(ValueError, match="bos may only"):
        lang.token_logprobs(np.array([[8, 8]]))
    with pytest.raises(ValueError, match="Generator"):
        lang.sample(3, rng=0)


def test_vocab_round_trip_and_errors():
    v = Vocab(list("01234") + ["+", "-", "=", "<bk>"])
    ids = v.encode("12+3=")
    assert ids.dtype == np.int64 and v.decode(ids) == list("12+3=")
    assert v.encode(["4", "<bk>"]).tolist() == [4, 8]
    with pytest.raises(ValueError, match="unknown symbol"):
        v.encode("9")
    with pytest.raises(ValueError, match="distinct"):
        Vocab(["a", "a"])


def test_addsub_in_base_answers_are_correct():
    rng = np.random.default_rng(0)
    q, a = addsub_in_base(500, base=5, min_digits=2, max_digits=4, rng=rng)
    for question, answer in zip(q, a):
        assert question.endswith("=")
        op = "+" if "+" in question else "-"
        x, y = question[:-1].split(op)
        assert 2 <= len(x) <= 4 and x[0] != "0" and set(x + y) <= set("01234")
        want = int(x, 5) + int(y, 5) if op == "+" else int(x, 5) - int(y, 5)
        assert int(answer, 5) == want
    assert {"+", "-"} <= {("+" if "+" in s else "-") for s in q}
    with pytest.raises(ValueError, match="base"):
        addsub_in_base(3, base=11, rng=rng)


def test_running_and_modular_sums():
    rng = np.random.default_rng(0)
    x, y = running_sum(50, 12, rng=rng)
    assert x.shape == y.shape == (50, 12)
    np.testing.assert_array_equal(y[:, 1:], (y[:, :-1] + x[:, 1:]) % 10)
    x, partial, y = modular_sum(50, 5, modulus=7, rng=rng)
    assert partial.shape == (50, 4)
    np.testing.assert_array_equal(y, x.sum(1) % 7)
    np.testing.assert_array_equal(partial[:, 0], (x[:, 0] + x[:, 1]) % 7)
    np.testing.assert_array_equal(partial[:, -1], y)


def test_fictitious_facts_are_unique():
    names, descs = fictitious_facts(300, n_first=20, n_last=20, n_adjectives=30, n_nouns=30,
                                    rng=np.random.default_rng(0))
    assert len({tuple(r) for r in names}) == 300 and len({tuple(r) for r in descs}) == 300
    assert names[:, 0].max() < 20 and descs[:, 1].max() < 30
    with pytest.raises(ValueError, match="distinct"):
        fictitious_facts(401, n_first=20, n_last=20, n_adjectives=30, n_nouns=30, rng=np.random.default_rng(0))


def test_corrupt_targets_operations():
    rng = np.random.default_rng(0)
    t = np.tile(np.arange(10), (2000, 1))
    np.testing.assert_array_equal(corrupt_targets(t, "shuffle", 0, rng), t)
    s = corrupt_targets(t, "shuffle", 1, rng, max_distance=2)
    diff = s != t
    assert (diff.sum(1) == 2).all()                                   # one swap
    pos = np.argwhere(diff)[:, 1].reshape(-1, 2)
    assert (np.abs(pos[:, 1] - pos[:, 0]) <= 2).all()
    np.testing.assert_array_equal(np.sort(s, axis=1), t)              # a permutation
    r = corrupt_targets(t, "repeat", 1, rng)
    assert (np.diff(r, axis=1) >= 0).all() and ((np.diff(r, axis=1) == 0).sum(1) == 1).all()
    b = corrupt_targets(t, "blank", 2, rng, fill=99)
    assert ((b == 99).sum(1) >= 1).all() and ((b != t) == (b == 99)).all()
    c = corrupt_targets(t, "replace", 1, rng, fill=np.arange(10))
    assert ((c != t).sum(1) == 1).all()
    # the replacement is uniform over the other candidates
    new = c[c != t]
    old = t[c != t]
    counts = np.bincount((new - old) % 10, minlength=10)[1:]
    assert sps.chisquare(counts).pvalue > 1e-3
    assert t.max() == 9 and (t == np.arange(10)).all()                # input untouched


def test_corrupt_targets_rejects_bad_input():
    rng = np.random.default_rng(0)
    t = np.zeros((2, 5), dtype=int)
    with pytest.raises(ValueError, match="unknown kind"):
        corrupt_targets(t, "drop", 1, rng)
    with pytest.raises(ValueError, match="fill"):
        corrupt_targets(t, "blank", 1, rng)
    with pytest.raises(ValueError, match="non-negative"):
        corrupt_targets(t, "shuffle", -1, rng)
