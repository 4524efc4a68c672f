import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy import stats as sps

from shared.languages import PreferenceLanguage


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), prompt=st.integers(0, 3))
def test_base_likelihood_sums_to_one_over_all_responses(seed, prompt):
    lang = PreferenceLanguage(4, vocab_size=3, response_length=3, seed=seed)
    ys = np.array(list(itertools.product(range(3), repeat=3)))
    total = np.exp(lang.base_logprob(np.full(len(ys), prompt), ys)).sum()
    assert total == pytest.approx(1.0, abs=1e-10)


def test_base_samples_follow_the_base_likelihood():
    lang = PreferenceLanguage(2, vocab_size=3, response_length=2, seed=1)
    rng = np.random.default_rng(0)
    y = lang.sample_base(np.ones(20_000, dtype=int), rng)
    codes = y[:, 0] * 3 + y[:, 1]
    counts = np.bincount(codes, minlength=9)
    ys = np.array(list(itertools.product(range(3), repeat=2)))
    p = np.exp(lang.base_logprob(np.ones(9, dtype=int), ys))
    assert sps.chisquare(counts, p / p.sum() * counts.sum()).pvalue > 1e-3


def test_expert_tokens_follow_softmax_of_the_reward_weights():
    lang = PreferenceLanguage(3, vocab_size=5, response_length=4, seed=2)
    rng = np.random.default_rng(1)
    y = lang.sample_expert(np.full(5000, 2), rng, strength=1.5)
    counts = np.bincount(y.ravel(), minlength=5)
    p = np.exp(lang.expert_logprobs(strength=1.5)[2])
    assert sps.chisquare(counts, p * counts.sum()).pvalue > 1e-3


def test_reward_is_mean_token_weight_and_expert_beats_base():
    lang = PreferenceLanguage(16, seed=3)
    rng = np.random.default_rng(2)
    idx = np.repeat(np.arange(16), 50)
    y = lang.sample_base(idx, rng)
    np.testing.assert_allclose(lang.reward(idx[:3], y[:3]),
                               [lang.token_reward[i, yi].mean() for i, yi in zip(idx[:3], y[:3])])
    np.testing.assert_allclose(lang.token_reward.mean(1), 0.0, atol=1e-12)
    np.testing.assert_allclose(lang.token_reward.std(1), 1.0)
    assert lang.reward(idx, lang.sample_expert(idx, rng)).mean() > lang.reward(idx, y).mean()


def test_model_inputs_and_token_ranges():
    lang = PreferenceLanguage(5, vocab_size=6, response_length=3, prompt_length=2, n_prompt_tokens=4, seed=4)
    rng = np.random.default_rng(3)
    idx = np.array([0, 4, 2])
    y = lang.sample_base(idx, rng)
    x = lang.sequences(idx, y)
    assert x.dtype == torch.long and x.shape == (3, lang.block_size) and lang.n_tokens == 10
    assert torch.equal(x[:, :2], lang.prompt_tokens(idx)) and torch.equal(x[:, 2:], torch.as_tensor(y))
    assert int(x[:, :2].min()) >= 6 and int(x[:, 2:].max()) < 6
    assert lang.response_tokens.tolist() == list(range(6))
    mask = lang.response_mask(3)
    assert mask.dtype == torch.bool and mask[:, 2:].all() and not mask[:, :2].any()


def test_same_seed_same_language():
    a, b = PreferenceLanguage(4, seed=7), PreferenceLanguage(4, seed=7)
    np.testing.assert_array_equal(a.prompts, b.prompts)
    np.testing.assert_array_equal(a.base_transition, b.base_transition)


@pytest.mark.parametrize("call, message", [
    (lambda lang: lang.reward(np.array([0]), np.zeros((1, 2), dtype=int)), "shape"),
    (lambda lang: lang.reward(np.array([9]), np.zeros((1, 8), dtype=int)), "prompt indices"),
    (lambda lang: lang.reward(np.array([0]), np.full((1, 8), 30)), "response tokens"),
    (lambda lang: lang.reward(np.array([0.5]), np.zeros((1, 8), dtype=int)), "integer"),
    (lambda lang: PreferenceLanguage(0), "n_prompts"),
    (lambda lang: lang.expert_logprobs(strength=0), "strength"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(PreferenceLanguage(4, seed=0))
