import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy import stats as sps
from scipy.special import expit, softmax

from shared.preference import (ContextualSoftmaxPolicy, asft_loss, bradley_terry_label, ches_score, dpo_loss,
                               expected_reward, exploitability, ipo_loss, kl_regularised_optimal_policy,
                               nash_equilibrium, nll_loss, orpo_loss, pro_loss, slic_hinge_loss, sppo_loss,
                               statistical_rejection_sampler, win_rate)
from shared.stats import tv_distance

t = torch.tensor


def test_dpo_ipo_slic_hand_computed():
    w, l, rw, rl = t([-1.0, -2.0]), t([-3.0, -1.0]), t([-1.5, -2.0]), t([-2.0, -2.0])
    h = np.array([(-1 + 1.5) - (-3 + 2), (-2 + 2) - (-1 + 2)])  # [1.5, -1]
    np.testing.assert_allclose(dpo_loss(w, l, rw, rl, beta=0.5, reduction="none"), -np.log(expit(0.5 * h)), rtol=1e-6)
    assert float(dpo_loss(w, l, rw, rl, beta=0.5)) == pytest.approx(np.mean(-np.log(expit(0.5 * h))), rel=1e-6)
    np.testing.assert_allclose(ipo_loss(w, l, rw, rl, tau=0.25, reduction="none"), (h - 2.0) ** 2, rtol=1e-6)
    np.testing.assert_allclose(slic_hinge_loss(w, l, rw, rl, margin=1.0, gamma=0.5, reduction="none"),
                               np.maximum(0, 1 - 0.5 * h), rtol=1e-6)
    np.testing.assert_allclose(slic_hinge_loss(w, l, reduction="none"), np.maximum(0, 1 - np.array([2.0, -1.0])))


def test_orpo_and_asft_from_probabilities():
    aw, al = t([-0.3, -1.2]), t([-0.9, -0.4])
    pw, pl = np.exp(aw.numpy()), np.exp(al.numpy())
    odds = lambda p: p / (1 - p)  # noqa: E731
    orpo = -np.log(pw) - 0.7 * np.log(expit(np.log(odds(pw) / odds(pl))))
    np.testing.assert_allclose(orpo_loss(aw, al, lam=0.7, reduction="none"), orpo, rtol=1e-5)
    # ASFT's alignment term is the binary cross-entropy -log p_w - log(1 - p_l)
    asft = -np.log(pw) + 0.7 * (-np.log(pw) - np.log(1 - pl))
    np.testing.assert_allclose(asft_loss(aw, al, lam=0.7, reduction="none"), asft, rtol=1e-5)
    torch.testing.assert_close(asft_loss(aw, al, lam=0.0), nll_loss(aw))
    # a float32 log-probability rounded to exactly 0 stays finite
    assert torch.isfinite(asft_loss(t([0.0]), t([0.0]), lam=1.0)) and torch.isfinite(orpo_loss(t([0.0]), t([-1.0]), lam=1.0))


def test_dpo_tabular_optimum_is_the_kl_regularised_policy():
    # population DPO loss over every ordered pair, labels from Bradley-Terry on r
    r = np.array([0.0, 1.0, -0.5, 2.0])
    ref = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    beta = 0.5
    i, j = np.triu_indices(4, 1)
    p_ij = torch.as_tensor(expit(r[i] - r[j]))
    ref_t = torch.as_tensor(ref)
    logits = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([logits], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        lp = torch.log_softmax(logits, 0)
        a = dpo_loss(lp[i], lp[j], ref_t[i], ref_t[j], beta=beta, reduction="none")
        b = dpo_loss(lp[j], lp[i], ref_t[j], ref_t[i], beta=beta, reduction="none")
        loss = (p_ij * a + (1 - p_ij) * b).sum()
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(torch.softmax(logits, 0).detach().numpy(),
                               kl_regularised_optimal_policy(ref, r, beta=beta), atol=1e-6)


def test_pro_loss_reduces_to_bradley_terry_and_plackett_luce():
    s = t([[0.5, -0.2], [1.0, 2.0]])
    torch.testing.assert_close(pro_loss(s, reduction="none"), -torch.nn.functional.logsigmoid(s[:, 0] - s[:, 1]))
    s3 = t([[0.3, -0.1, 0.8]])
    pl = -(torch.log_softmax(s3[0], 0)[0] + torch.log_softmax(s3[0, 1:], 0)[0])
    torch.testing.assert_close(pro_loss(s3), pl)


def test_pro_loss_reward_gap_temperatures_hand_computed():
    s = np.array([0.3, -0.1, 0.8])
    r = np.array([2.0, 1.5, 0.5])
    # k = 1: 1/T = gaps (r1-r2, r1-r3) = (0.5, 1.5); 1/T_1^1 = max gap = 1.5
    z1 = np.array([1.5 * s[0], 0.5 * s[1], 1.5 * s[2]])
    # k = 2: 1/T_2^3 = r2 - r3 = 1.0 = 1/T_2^2
    z2 = np.array([1.0 * s[1], 1.0 * s[2]])
    want = -(z1[0] - np.log(np.exp(z1).sum())) - (z2[0] - np.log(np.exp(z2).sum()))
    got = pro_loss(torch.tensor(s[None]), torch.tensor(r[None]))
    assert float(got) == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="non-increasing"):
        pro_loss(torch.tensor(s[None]), torch.tensor(r[None, ::-1].copy()))


def test_sppo_loss_is_zero_at_the_multiplicative_weights_step():
    logp_t = t([-1.0, -2.0, -0.5])
    p = t([0.8, 0.3, 0.5])
    target = logp_t + 2.0 * (p - 0.5)
    assert float(sppo_loss(target, logp_t, p, eta=2.0)) == pytest.approx(0.0, abs=1e-12)
    assert float(sppo_loss(logp_t, logp_t, p, eta=2.0)) == pytest.approx(float(((2.0 * (p - 0.5)) ** 2).mean()))


def test_bradley_terry_frequencies():
    rng = np.random.default_rng(0)
    n = 20_000
    wins = bradley_terry_label(np.full(n, 1.0), np.zeros(n), rng).sum()
    assert sps.binomtest(int(wins), n, expit(1.0)).pvalue > 1e-3


def test_rejection_sampler_draws_the_optimal_policy():
    rng = np.random.default_rng(1)
    sft = np.array([0.5, 0.25, 0.15, 0.07, 0.03])
    r = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    beta = 0.5
    target = kl_regularised_optimal_policy(np.log(sft), r, beta=beta)
    draws = []
    for _ in range(3000):
        cand = rng.choice(5, size=256, p=sft)
        draws.append(cand[statistical_rejection_sampler(r[cand], 1, beta=beta, rng=rng)[0]])
    hist = np.bincount(draws, minlength=5)
    assert sps.chisquare(hist, target * hist.sum()).pvalue > 1e-3
    assert tv_distance(hist, target) < 0.03


def test_rejection_sampler_returns_distinct_candidates():
    rng = np.random.default_rng(2)
    idx = statistical_rejection_sampler(rng.normal(size=20), 8, beta=0.1, rng=rng)
    assert len(idx) == 8 and len(set(idx.tolist())) == 8
    with pytest.raises(ValueError, match="exceeds"):
        statistical_rejection_sampler(np.zeros(3), 4, beta=1.0, rng=rng)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(2, 6))
def test_win_rate_identities(seed, k):
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
    r = rng.integers(0, 3, size=k).astype(float)  # ties included
    assert win_rate(p, p, r) == pytest.approx(0.5)
    assert win_rate(p, q, r) + win_rate(q, p, r) == pytest.approx(1.0)


def test_win_rate_and_expected_reward_match_monte_carlo():
    rng = np.random.default_rng(3)
    p, q, r = np.array([0.2, 0.5, 0.3]), np.array([0.6, 0.3, 0.1]), np.array([1.0, 0.0, 1.0])
    y, y2 = rng.choice(3, 200_000, p=p), rng.choice(3, 200_000, p=q)
    mc = np.mean((r[y] > r[y2]) + 0.5 * (r[y] == r[y2]))
    assert win_rate(p, q, r) == pytest.approx(mc, abs=5e-3)
    assert expected_reward(p, r) == pytest.approx(0.5)


def test_nash_of_rock_paper_scissors_and_of_a_transitive_game():
    C = np.array([[0, 1, -1], [-1, 0, 1], [1, -1, 0]])
    P = 0.5 + 0.3 * C
    pi = nash_equilibrium(P)
    np.testing.assert_allclose(pi, np.ones(3) / 3, atol=1e-8)
    assert exploitability(pi, P) == pytest.approx(0.0, abs=1e-9)
    assert exploitability(np.array([1.0, 0, 0]), P) == pytest.approx(0.3)
    s = np.array([0.0, 1.0, 0.5])
    P2 = expit(s[:, None] - s[None, :])
    np.testing.assert_allclose(nash_equilibrium(P2), [0, 1, 0], atol=1e-8)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_nash_is_unexploitable_on_random_games(seed):
    rng = np.random.default_rng(seed)
    A = rng.uniform(0, 1, size=(5, 5))
    P = np.triu(A, 1) + np.tril(1 - A.T, -1) + 0.5 * np.eye(5)
    pi = nash_equilibrium(P)
    assert exploitability(pi, P) == pytest.approx(0.0, abs=1e-7)
    assert exploitability(rng.dirichlet(np.ones(5)), P) >= -1e-9


def test_ches_score_hand_computed():
    hp = np.array([[1.0, 0.0], [1.0, 2.0]])
    hm = np.array([[0.0, 1.0]])
    a, b = hp.sum(0), hm.sum(0)
    assert ches_score(hp, hm) == pytest.approx(a @ b - a @ a)
    a, b = hp.mean(0), hm.mean(0)
    assert ches_score(hp, hm, normalise=True) == pytest.approx(a @ b - a @ a)
    assert ches_score(hp, hp) == pytest.approx(0.0)


def test_contextual_policy_starts_at_base_and_learns():
    g = torch.Generator().manual_seed(0)
    x, y, base = torch.randn(6, 3, generator=g), torch.randn(6, 4, 2, generator=g), torch.randn(6, 4, generator=g)
    pol = ContextualSoftmaxPolicy(3, 2)
    torch.testing.assert_close(pol(x, y, base), torch.log_softmax(base, -1))
    pol(x, y, base)[:, 0].sum().backward()
    assert pol.W.grad.abs().sum() > 0


def test_tv_distance():
    assert tv_distance([1, 0], [0, 1]) == 1.0
    assert tv_distance([2, 2], [0.5, 0.5]) == 0.0
    p = softmax(np.arange(4.0))
    assert tv_distance(p, p[::-1]) == pytest.approx(tv_distance(p[::-1], p))


@pytest.mark.parametrize("call, message", [
    (lambda: dpo_loss(t([1.0]), t([1.0, 2.0]), t([1.0]), t([1.0]), beta=0.1), "share one shape"),
    (lambda: dpo_loss(t([1.0]), t([1.0]), t([1.0]), t([1.0]), beta=0.0), "beta"),
    (lambda: dpo_loss(t([1.0]), t([1.0]), t([1.0]), t([1.0]), beta=0.1, reduction="sum"), "reduction"),
    (lambda: slic_hinge_loss(t([1.0]), t([1.0]), ref_w=t([1.0])), "both"),
    (lambda: orpo_loss(t([0.1]), t([-1.0]), lam=0.1), "<= 0"),
    (lambda: asft_loss(t([-1.0]), t([-1.0]), lam=-1), "lam"),
    (lambda: pro_loss(t([1.0, 2.0])), "\\(B, n\\)"),
    (lambda: nash_equilibrium(np.ones((2, 2))), "P \\+ P.T = 1"),
    (lambda: kl_regularised_optimal_policy(np.zeros(3), np.zeros(4), beta=1.0), "must match"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
