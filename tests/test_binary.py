import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.special import logsumexp

from shared.binary import (BernoulliMixture, MaskedMLP, ao_arm_loss, chain_log_marginal, enumerate_states,
                           self_consistency_loss)


def test_enumeration():
    s = enumerate_states(3)
    assert s.shape == (8, 3) and len({tuple(r) for r in s}) == 8
    np.testing.assert_array_equal(s[5], [1, 0, 1])
    with pytest.raises(ValueError, match="limited"):
        enumerate_states(30)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_pmf_sums_to_one_and_marginals_equal_summed_joints(seed):
    rng = np.random.default_rng(seed)
    bm = BernoulliMixture.random(3, 6, rng)
    states = enumerate_states(6)
    joint = bm.logpmf(states)
    assert logsumexp(joint) == pytest.approx(0.0, abs=1e-10)
    mask = rng.random(6) < 0.5
    x = states[rng.integers(len(states))]
    agree = np.all(states[:, mask] == x[mask], axis=1)
    assert bm.log_marginal(x[None], mask)[0] == pytest.approx(logsumexp(joint[agree]), abs=1e-10)
    assert bm.log_marginal(x[None], np.zeros(6, bool))[0] == pytest.approx(0.0)


def test_sampling_frequencies_and_conditionals():
    rng = np.random.default_rng(0)
    bm = BernoulliMixture.random(2, 3, rng)
    x = bm.sample(100_000, rng)
    states = enumerate_states(3)
    freq = np.array([np.mean(np.all(x == s, axis=1)) for s in states])
    np.testing.assert_allclose(freq, np.exp(bm.logpmf(states)), atol=0.006)
    obs = np.array([[1, 0, 0]])
    mask = np.array([True, False, False])
    p = bm.conditional_prob(obs, mask, 2)[0]
    want = np.mean(x[x[:, 0] == 1][:, 2])
    assert p == pytest.approx(want, abs=0.01)
    with pytest.raises(ValueError, match="0s and 1s"):
        bm.logpmf(np.array([[2, 0, 0]]))


# ---------------------------------------------------------------- any-order models


def _exact_fns(bm):
    def log_marginal(x, mask):
        return torch.tensor(bm.log_marginal(x.numpy().astype(int), mask.numpy()))

    def conditional_logits(x, mask):
        xs, ms = x.numpy().astype(int), mask.numpy()
        p = np.stack([np.where(ms[:, i], 0.5, bm.conditional_prob(xs, ms & (np.arange(bm.dim) != i), i))
                      for i in range(bm.dim)], 1)
        p = np.where(ms, 0.5, p)
        return torch.tensor(np.log(p) - np.log1p(-p))
    return log_marginal, conditional_logits


def test_exact_conditionals_give_exact_chain_marginals_and_zero_inconsistency():
    rng = np.random.default_rng(3)
    bm = BernoulliMixture.random(3, 5, rng)
    x = torch.tensor(bm.sample(40, rng), dtype=torch.float64)
    mask = torch.tensor(rng.random((40, 5)) < 0.6)
    log_marginal, cond = _exact_fns(bm)
    g = torch.Generator().manual_seed(0)
    torch.testing.assert_close(chain_log_marginal(cond, x, mask, g), log_marginal(x, mask))
    assert float(self_consistency_loss(log_marginal, cond, x, g)) == pytest.approx(0.0, abs=1e-20)
    # the AO-ARM loss of the exact model estimates the entropy-level NLL of the sample
    losses = [float(ao_arm_loss(cond, x, g)) for _ in range(300)]
    assert np.mean(losses) == pytest.approx(-bm.logpmf(x.numpy().astype(int)).mean(), rel=0.05)


def test_masked_mlp_pins_the_empty_marginal():
    net = MaskedMLP(4, (16,), out=1, seed=0)
    x = torch.ones(3, 4)
    torch.testing.assert_close(net(x, torch.zeros(3, 4, dtype=torch.bool)), torch.zeros(3))
    assert MaskedMLP(4, (16,), seed=0)(x, torch.ones(3, 4, dtype=torch.bool)).shape == (3, 4)
