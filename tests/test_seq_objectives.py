import math

import numpy as np
import ot
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch.nn import functional as F

from shared.seq_objectives import (eisl_ngram_loss, emd_token_loss, iq_learn_chi2_loss,
                                   scheduled_sampling_inputs, star_loss, trice_loss)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), V=st.integers(2, 8), d=st.integers(1, 5))
def test_emd_token_loss_equals_exact_optimal_transport(seed, V, d):
    g = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(3, V, generator=g, dtype=torch.float64)
    targets = torch.randint(0, V, (3,), generator=g)
    emb = torch.randn(V, d, generator=g, dtype=torch.float64)
    unit = F.normalize(emb, dim=1).numpy()
    cost = 1.0 - unit @ unit.T
    ours = emd_token_loss(logits, targets, emb, reduction="none")
    q = logits.softmax(-1).numpy()
    for i in range(3):
        want = ot.emd2(q[i], np.eye(V)[targets[i]], cost)
        assert float(ours[i]) == pytest.approx(want, abs=1e-9)


def test_emd_token_loss_charges_distant_tokens_and_spares_synonyms():
    emb = torch.tensor([[1.0, 0.0], [0.99, 0.14], [0.0, 1.0]])   # 0 and 1 near, 2 far
    near = torch.log(torch.tensor([[0.5, 0.5, 1e-9]]))
    far = torch.log(torch.tensor([[0.5, 1e-9, 0.5]]))
    t = torch.tensor([0])
    assert float(emd_token_loss(near, t, emb)) < 0.01 < 0.4 < float(emd_token_loss(far, t, emb))
    logits = torch.zeros(1, 3, requires_grad=True)
    e = emb.clone().requires_grad_(True)
    emd_token_loss(logits, t, e).backward()
    assert e.grad is None and logits.grad is not None
    with pytest.raises(ValueError, match="embeddings"):
        emd_token_loss(logits, t, emb[:2])


def _ce(logprobs, targets):
    return -logprobs.gather(2, targets[..., None]).squeeze(-1).mean(1)


@pytest.mark.parametrize("pooling", ["gumbel", "softmax", "max"])
def test_eisl_with_one_full_length_ngram_is_cross_entropy(pooling):
    g = torch.Generator().manual_seed(0)
    lp = torch.randn(4, 6, 9, generator=g).log_softmax(-1)
    y = torch.randint(0, 9, (4, 6), generator=g)
    got = eisl_ngram_loss(lp, y, ngrams=(6,), pooling=pooling, generator=g, reduction="none")
    torch.testing.assert_close(got, _ce(lp, y))


def test_eisl_unigram_max_pooling_ignores_output_order():
    g = torch.Generator().manual_seed(1)
    lp = torch.randn(3, 7, 11, generator=g).log_softmax(-1)
    y = torch.randint(0, 11, (3, 7), generator=g)
    perm = torch.randperm(7, generator=g)
    a = eisl_ngram_loss(lp, y, ngrams=(1,), pooling="max", reduction="none")
    b = eisl_ngram_loss(lp[:, perm], y, ngrams=(1,), pooling="max", reduction="none")
    torch.testing.assert_close(a, b)
    # shifting the target by one costs cross-entropy a lot and the 2-gram EISL little
    y0 = torch.randint(0, 11, (2, 8), generator=g)
    sharp = F.one_hot(y0, 11).float().mul(20).log_softmax(-1)
    shifted = torch.cat([y0[:, :1], y0[:, :-1]], dim=1)
    ce = _ce(sharp, shifted).mean()
    eisl = eisl_ngram_loss(sharp, shifted, ngrams=(2,), pooling="max")
    assert float(eisl) < 0.25 * float(ce)


def test_eisl_gumbel_is_reproducible_and_validates():
    lp = torch.randn(2, 5, 4).log_softmax(-1)
    y = torch.randint(0, 4, (2, 5))
    a = eisl_ngram_loss(lp, y, generator=torch.Generator().manual_seed(3))
    b = eisl_ngram_loss(lp, y, generator=torch.Generator().manual_seed(3))
    assert torch.isfinite(a) and float(a) == float(b)
    with pytest.raises(ValueError, match="pooling"):
        eisl_ngram_loss(lp, y, pooling="mean")
    with pytest.raises(ValueError, match="weights"):
        eisl_ngram_loss(lp, y, ngrams=(1, 2), weights=[1.0])


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_iq_learn_without_chi2_on_data_is_the_token_nll(gamma):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 7, 6, generator=g, dtype=torch.float64)
    actions = torch.randint(0, 6, (5, 7), generator=g)
    mask = torch.ones(5, 7, dtype=torch.bool)
    mask[:, 0] = False
    mask[2, 5:] = False
    got = iq_learn_chi2_loss(logits, actions, mask, alpha=math.inf, gamma=gamma)
    nll = -logits.log_softmax(-1).gather(-1, actions[..., None]).squeeze(-1)[mask].mean()
    torch.testing.assert_close(got, nll)


def test_iq_learn_chi2_and_mixture_terms():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 4, 5, generator=g, dtype=torch.float64)
    actions = torch.randint(0, 5, (3, 4), generator=g)
    mask = torch.ones(3, 4, dtype=torch.bool)
    pl = torch.randn(2, 4, 5, generator=g, dtype=torch.float64)
    pa = torch.randint(0, 5, (2, 4), generator=g)
    pm = torch.ones(2, 4, dtype=torch.bool)

    def parts(lg, a):   # r and V(s) - V(s') by hand, gamma = 1, last step terminal
        v = torch.logsumexp(lg, -1)
        q = lg.gather(-1, a[..., None]).squeeze(-1)
        v_next = torch.cat([v[:, 1:], torch.zeros_like(v[:, :1])], 1)
        return (q - v_next).ravel(), (v - v_next).ravel()

    r_d, dv_d = parts(logits, actions)
    r_p, dv_p = parts(pl, pa)
    alpha, mix = 0.5, 0.3
    want = (-r_d.mean() + mix * dv_d.mean() + (1 - mix) * dv_p.mean()
            + (mix * (r_d ** 2).mean() + (1 - mix) * (r_p ** 2).mean()) / (4 * alpha))
    got = iq_learn_chi2_loss(logits, actions, mask, policy_logits=pl, policy_actions=pa, policy_mask=pm,
                             alpha=alpha, mix=mix)
    torch.testing.assert_close(got, want)
    # mix = 1 ignores the policy batch
    torch.testing.assert_close(
        iq_learn_chi2_loss(logits, actions, mask, policy_logits=pl, policy_actions=pa, policy_mask=pm, mix=1.0),
        iq_learn_chi2_loss(logits, actions, mask))
    with pytest.raises(ValueError, match="together"):
        iq_learn_chi2_loss(logits, actions, mask, policy_logits=pl)
    with pytest.raises(ValueError, match="gamma"):
        iq_learn_chi2_loss(logits, actions, mask, gamma=0.0)


def test_iq_learn_alive_states_keep_their_value_when_unscored():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(1, 4, 3, generator=g, dtype=torch.float64)
    actions = torch.tensor([[0, 2, 1, 1]])
    mask = torch.tensor([[True, False, True, True]])      # step 1 is not scored ...
    alive = torch.ones(1, 4, dtype=torch.bool)            # ... but its state has a value
    v = torch.logsumexp(logits[0], -1)
    q = logits[0, torch.arange(4), actions[0]]
    v_next = torch.cat([v[1:], v.new_zeros(1)])
    r, dv = (q - v_next)[mask[0]], (v - v_next)[mask[0]]
    want = -r.mean() + dv.mean() + (r ** 2).mean() / 4
    torch.testing.assert_close(iq_learn_chi2_loss(logits, actions, mask, alive=alive), want)
    # with alive = mask the unscored step cuts the sequence: step 0 sees a terminal next state
    cut = iq_learn_chi2_loss(logits, actions, mask)
    assert not torch.allclose(cut, want)


def test_scheduled_sampling_inputs_mixes_at_rate_rho():
    gold = torch.zeros(200, 50, dtype=torch.long)
    model = torch.ones(200, 50, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(scheduled_sampling_inputs(gold, model, 0.0, generator=g), gold)
    assert torch.equal(scheduled_sampling_inputs(gold, model, 1.0, generator=g), model)
    mixed = scheduled_sampling_inputs(gold, model, 0.3, generator=g)
    n = mixed.numel()
    assert abs(float(mixed.float().mean()) - 0.3) < 4 * math.sqrt(0.3 * 0.7 / n)
    mask = torch.zeros(200, 50, dtype=torch.bool)
    mask[:, 25:] = True
    masked = scheduled_sampling_inputs(gold, model, 1.0, generator=g, mask=mask)
    assert torch.equal(masked.bool(), mask)
    with pytest.raises(ValueError, match="rho"):
        scheduled_sampling_inputs(gold, model, 1.5)


def test_trice_loss_gradient_coefficients():
    mem = torch.zeros(4, requires_grad=True)
    prop = torch.zeros(4, requires_grad=True)
    correct = torch.tensor([True, False, True, True])
    trice_loss(mem, prop, correct).backward()
    torch.testing.assert_close(mem.grad, torch.full((4,), -0.25))
    # leave-one-out success rates 2/3, 1, 2/3, 2/3, each over B = 4
    torch.testing.assert_close(prop.grad, torch.tensor([2 / 3, 1.0, 2 / 3, 2 / 3]) / 4)
    prop.grad = None
    trice_loss(mem, prop, correct, control_variate=False).backward()
    assert prop.grad is None or float(prop.grad.abs().sum()) == 0.0


def test_trice_estimator_is_unbiased_for_the_marginal_likelihood_gradient():
    # tabular model p(z) = softmax(theta) over 5 rationales; rationales 0 and 1 give the right answer
    theta = torch.tensor([0.3, -0.5, 0.8, 0.0, -1.0], dtype=torch.float64, requires_grad=True)
    p = theta.detach().softmax(0)
    good = torch.tensor([True, True, False, False, False])
    g = torch.Generator().manual_seed(0)
    B = 40_000
    memory = torch.multinomial(torch.where(good, p, 0.0), B, replacement=True, generator=g)
    proposal = torch.multinomial(p, B, replacement=True, generator=g)
    correct = good[proposal]
    memory = torch.where(correct, proposal, memory)       # accept-if-correct update
    logp = theta.log_softmax(0)
    for cv in (True, False):
        theta.grad = None
        trice_loss(logp[memory], logp[proposal], correct, control_variate=cv).backward(retain_graph=True)
        # d/dtheta log p(good) = E_{p(z|good)}[onehot(z)] - p
        post = torch.where(good, p, 0.0) / p[good].sum()
        torch.testing.assert_close(-theta.grad, post - p, atol=0.02, rtol=0)


def test_star_loss_keeps_only_correct_proposals():
    lp = torch.tensor([-1.0, -2.0, -3.0], requires_grad=True)
    loss = star_loss(lp, [True, False, True])
    assert float(loss.detach()) == pytest.approx(2.0)
    loss.backward()
    torch.testing.assert_close(lp.grad, torch.tensor([-0.5, 0.0, -0.5]))
    assert float(star_loss(lp, [False, False, False]).detach()) == 0.0
    with pytest.raises(ValueError, match="same length"):
        star_loss(lp, [True])
