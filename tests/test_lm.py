import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy import stats as sps

from shared.lm import TinyGPT, sample_sequences, sequence_logprob, token_logprobs, train_nll


def _model(V=5, block=6, seed=0, **kw):
    return TinyGPT(V, block, seed=seed, **kw)


def test_logits_and_hidden_shapes_and_unembedding():
    m = _model(d_model=16)
    x = torch.randint(5, (3, 6), generator=torch.Generator().manual_seed(0))
    logits, h = m(x, return_hidden=True)
    assert logits.shape == (3, 6, 5) and h.shape == (3, 6, 16)
    torch.testing.assert_close(logits, h @ m.unembedding.T)


def test_token_logprobs_match_torch_categorical():
    m = _model(seed=1)
    x = torch.randint(5, (4, 6), generator=torch.Generator().manual_seed(1))
    ref = torch.distributions.Categorical(logits=m(x)[:, :-1]).log_prob(x[:, 1:])
    torch.testing.assert_close(token_logprobs(m, x), ref)


def test_causal_future_tokens_do_not_change_past_logprobs():
    m = _model(seed=2)
    x = torch.tensor([[0, 1, 2, 3, 4, 0]])
    y = x.clone()
    y[0, 4:] = torch.tensor([1, 1])
    torch.testing.assert_close(token_logprobs(m, x)[:, :3], token_logprobs(m, y)[:, :3])


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_sequence_probabilities_over_all_responses_sum_to_one(seed):
    V, P, L = 3, 2, 3
    m = _model(V=V, block=P + L, seed=seed)
    prompt = torch.tensor([2, 0])
    ys = torch.tensor(list(itertools.product(range(V), repeat=L)))
    x = torch.cat([prompt.expand(len(ys), P), ys], dim=1)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, P:] = True
    with torch.no_grad():
        total = sequence_logprob(m, x, mask).exp().sum()
    assert float(total) == pytest.approx(1.0, abs=1e-5)


def test_average_is_sum_over_count():
    m = _model(seed=3)
    x = torch.randint(5, (4, 6), generator=torch.Generator().manual_seed(3))
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, 2:] = True
    mask[0, 5] = False
    s = sequence_logprob(m, x, mask)
    a = sequence_logprob(m, x, mask, average=True)
    torch.testing.assert_close(a, s / mask[:, 1:].sum(1))
    manual = token_logprobs(m, x)[1, 1:].sum()
    torch.testing.assert_close(s[1], manual)


def test_sampled_logprobs_equal_model_logprobs_at_temperature_one():
    m = _model(seed=4)
    prefix = torch.tensor([[1, 2]] * 8)
    out = sample_sequences(m, prefix, 4, generator=torch.Generator().manual_seed(0))
    assert out.tokens.shape == (8, 6) and out.logprobs.shape == (8, 4)
    assert torch.equal(out.tokens[:, :2], prefix)
    mask = torch.zeros(8, 6, dtype=torch.bool)
    mask[:, 2:] = True
    with torch.no_grad():
        torch.testing.assert_close(out.logprobs.sum(1), sequence_logprob(m, out.tokens, mask), atol=1e-5, rtol=0)


def test_temperature_and_top_k_sampling_frequencies():
    m = _model(V=6, seed=5)
    with torch.no_grad():
        logits = m(torch.tensor([[3]]))[0, -1]
    gen = torch.Generator().manual_seed(0)
    out = sample_sequences(m, torch.full((6000, 1), 3), 1, temperature=0.5, top_k=3, generator=gen)
    keep = torch.topk(logits, 3).indices
    expected = torch.zeros(6)
    expected[keep] = torch.softmax(logits[keep] / 0.5, 0)
    counts = torch.bincount(out.tokens[:, 1], minlength=6).numpy()
    assert set(np.flatnonzero(counts)) <= set(keep.tolist())
    k = keep.numpy()
    f_exp = expected[k].double().numpy()
    assert sps.chisquare(counts[k], f_exp / f_exp.sum() * counts.sum()).pvalue > 1e-3
    torch.testing.assert_close(out.logprobs[:, 0], torch.log(expected[out.tokens[:, 1]]), atol=1e-5, rtol=0)


def test_allowed_tokens_restrict_sampling_and_scoring_consistently():
    V, P, L = 6, 2, 3
    m = _model(V=V, block=P + L, seed=7)
    allowed = [0, 2, 3]
    out = sample_sequences(m, torch.tensor([[4, 5]] * 200), L, allowed_tokens=allowed,
                           generator=torch.Generator().manual_seed(1))
    assert set(out.tokens[:, P:].unique().tolist()) <= set(allowed)
    mask = torch.zeros(200, P + L, dtype=torch.bool)
    mask[:, P:] = True  # the prompt tokens 4, 5 lie outside allowed_tokens and are not scored
    with torch.no_grad():
        lp = sequence_logprob(m, out.tokens, mask, allowed_tokens=allowed)
    torch.testing.assert_close(out.logprobs.sum(1), lp, atol=1e-5, rtol=0)
    # the restricted model is a distribution over the allowed responses
    ys = torch.tensor(list(itertools.product(allowed, repeat=L)))
    x = torch.cat([torch.tensor([[4, 5]]).expand(len(ys), P), ys], dim=1)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, P:] = True
    with torch.no_grad():
        assert float(sequence_logprob(m, x, mask, allowed_tokens=allowed).exp().sum()) == pytest.approx(1.0, abs=1e-5)
        assert torch.isinf(token_logprobs(m, x[:1], allowed_tokens=allowed)[0, 0])  # token 5 is not allowed


def test_same_generator_seed_same_samples():
    m = _model(seed=6)
    a = sample_sequences(m, torch.zeros(5, 1, dtype=torch.long), 5, generator=torch.Generator().manual_seed(9))
    b = sample_sequences(m, torch.zeros(5, 1, dtype=torch.long), 5, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a.tokens, b.tokens)


def test_train_nll_learns_a_known_distribution():
    # next token = (previous + 1) mod V with probability 0.8, else uniform over the rest
    rng = np.random.default_rng(0)
    V, T, N = 4, 6, 512
    x = np.zeros((N, T), dtype=np.int64)
    x[:, 0] = rng.integers(V, size=N)
    for t in range(1, T):
        step = np.where(rng.random(N) < 0.8, 1, rng.integers(2, V + 1, size=N))
        x[:, t] = (x[:, t - 1] + step) % V
    x = torch.as_tensor(x)
    mask = torch.ones_like(x, dtype=torch.bool)
    mask[:, 0] = False
    m = _model(V=V, block=T, seed=0)
    losses = train_nll(m, x, mask, steps=300, batch_size=64, lr=3e-3, generator=torch.Generator().manual_seed(0))
    entropy = -(0.8 * np.log(0.8) + 0.2 * np.log(0.2 / 3))
    assert losses[0] > np.log(V) - 0.1
    assert losses[-20:].mean() == pytest.approx(entropy, abs=0.08)


@pytest.mark.parametrize("call, message", [
    (lambda m: m(torch.zeros(2, 7, dtype=torch.long)), "block_size"),
    (lambda m: m(torch.zeros(2, 3)), "torch.long"),
    (lambda m: m(torch.full((2, 3), 5)), "token ids"),
    (lambda m: sequence_logprob(m, torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool)), "mask\\[:, 0\\]"),
    (lambda m: sequence_logprob(m, torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 4, dtype=torch.bool)), "mask shape"),
    (lambda m: sample_sequences(m, torch.zeros(2, 3, dtype=torch.long), 4), "exceeds block_size"),
    (lambda m: sample_sequences(m, torch.zeros(2, 1, dtype=torch.long), 2, temperature=0), "temperature"),
    (lambda m: sample_sequences(m, torch.zeros(2, 1, dtype=torch.long), 2, top_k=9), "top_k"),
    (lambda m: TinyGPT(5, 6, d_model=30, n_head=4), "divisible"),
    (lambda m: sample_sequences(m, torch.zeros(2, 1, dtype=torch.long), 2, allowed_tokens=[7]), "allowed_tokens"),
    (lambda m: sample_sequences(m, torch.zeros(2, 1, dtype=torch.long), 2, allowed_tokens=[1, 2], top_k=3), "allowed"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(_model())


def test_train_nll_with_allowed_tokens_fits_the_restricted_model():
    # targets only ever use tokens 0, 1; the restricted model puts all its mass there
    x = torch.tensor([[3, 0, 1, 0], [3, 1, 1, 0]] * 32)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, 1:] = True
    m = _model(V=4, block=4, seed=8)
    losses = train_nll(m, x, mask, steps=5, batch_size=8, lr=1e-2, generator=torch.Generator().manual_seed(0),
                       allowed_tokens=[0, 1])
    assert losses[0] <= np.log(2) + 0.1  # two allowed tokens: at most about log 2 nats at the start
    with torch.no_grad():
        lp = token_logprobs(m, x[:2], allowed_tokens=[0, 1])
    assert torch.isfinite(lp).all()
