import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from shared.diffusion import (EDMSchedule, TimeMLP, VESchedule, VPSchedule, ddim_sample, ddo_loss, ddpm_sample,
                              denoising_errors, diffusion_dpo_loss, draw_t_noise, dsm_loss, mapo_loss, ode_loglik,
                              ode_solve, pf_ode_loglik, pf_ode_sample, reverse_sde_sample, score_from_eps, sde_solve,
                              train_eps_model)
from shared.toy2d import GaussianMixture

# tiny networks: a second thread only contends with the other pytest worker (10x slower on 2 busy cores)
torch.set_num_threads(1)

SCHEDULES = [VPSchedule(), VESchedule(), EDMSchedule()]
IDS = ["vp", "ve", "edm"]


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _gaussian_target():
    """N(m, diag(s^2)) as a one-component mixture: its noised score is exact."""
    return GaussianMixture([1.0], [[1.0, -0.5]], [np.diag([0.25, 0.64])])


@pytest.mark.parametrize("schedule", SCHEDULES, ids=IDS)
@settings(max_examples=20, deadline=None)
@given(u=st.floats(0.02, 0.98))
def test_schedule_sde_coefficients_match_its_marginals(schedule, u):
    # For dx = f x dt + g dW: d log(alpha)/dt = f and d(sigma^2)/dt = 2 f sigma^2 + g^2.
    t = torch.tensor(schedule.t_min + u * (schedule.t_max - schedule.t_min), dtype=torch.float64, requires_grad=True)
    la = torch.log(schedule.alpha(t))
    dla = torch.autograd.grad(la, t)[0] if la.requires_grad else torch.tensor(0.0, dtype=torch.float64)
    s2 = schedule.sigma(t) ** 2
    ds2 = torch.autograd.grad(s2, t)[0]
    assert float(dla.detach()) == pytest.approx(float(schedule.drift(t).detach()), rel=1e-6, abs=1e-9)
    assert float(ds2) == pytest.approx(float((2 * schedule.drift(t) * s2 + schedule.g2(t)).detach()), rel=1e-6)
    dlsnr = torch.autograd.grad(schedule.log_snr(t), t)[0]
    assert float(schedule.elbo_weight(t).detach()) == pytest.approx(-0.5 * float(dlsnr), rel=1e-6)


def test_vp_closed_form_and_unit_variance():
    vp = VPSchedule(beta_min=0.1, beta_max=20.0)
    t = torch.linspace(0.001, 1.0, 11, dtype=torch.float64)
    log_alpha = -0.25 * t ** 2 * 19.9 - 0.05 * t
    torch.testing.assert_close(vp.alpha(t), torch.exp(log_alpha))
    torch.testing.assert_close(vp.alpha(t) ** 2 + vp.sigma(t) ** 2, torch.ones_like(t))
    assert vp.prior_std() == pytest.approx(1.0)


def test_timesteps_and_time_draws():
    edm = EDMSchedule()
    grid = edm.timesteps(18)
    assert grid[0] == pytest.approx(80.0) and grid[-1] == pytest.approx(0.002)
    assert torch.all(grid[1:] < grid[:-1])
    i = 5
    want = (80 ** (1 / 7) + i / 18 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7
    assert float(grid[i]) == pytest.approx(want, rel=1e-5)
    vp = VPSchedule()
    t = vp.sample_t(1000, _gen())
    assert float(t.min()) >= vp.t_min and float(t.max()) <= vp.t_max
    s = edm.sample_t(20_000, _gen())
    assert float(torch.log(s).mean()) == pytest.approx(-1.2, abs=0.05)
    with pytest.raises(ValueError, match="beta_max"):
        VPSchedule(beta_min=5.0, beta_max=1.0)
    with pytest.raises(ValueError, match="n must be"):
        vp.timesteps(0)


def test_time_mlp_shapes_seed_and_validation():
    a, b = TimeMLP(2, (16, 16), seed=3), TimeMLP(2, (16, 16), seed=3)
    x = torch.randn(5, 2, generator=_gen())
    torch.testing.assert_close(a(x, 0.3), b(x, torch.full((5,), 0.3)))
    two = TimeMLP(3, (8,), n_times=2, n_classes=4, seed=0)
    assert two(torch.zeros(6, 3), torch.rand(6), 0.1, labels=torch.arange(6) % 4).shape == (6, 3)
    with pytest.raises(ValueError, match="n_times=2"):
        two(torch.zeros(6, 3), 0.1, labels=torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match="pass labels"):
        two(torch.zeros(6, 3), 0.1, 0.2)
    with pytest.raises(ValueError, match="labels must be"):
        two(torch.zeros(2, 3), 0.1, 0.2, labels=torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="unconditional"):
        a(x, 0.3, labels=torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="embed_dim"):
        TimeMLP(2, embed_dim=7)


@pytest.mark.parametrize("schedule,sampler", [(SCHEDULES[0], s) for s in ("ddpm", "ddim", "pf_ode", "sde")]
                         + [(sch, s) for sch in SCHEDULES[1:] for s in ("ddpm", "pf_ode")],
                         ids=[f"vp-{s}" for s in ("ddpm", "ddim", "pf_ode", "sde")]
                         + [f"{i}-{s}" for i in IDS[1:] for s in ("ddpm", "pf_ode")])
def test_samplers_with_the_exact_score_return_the_target_gaussian(schedule, sampler):
    target = _gaussian_target()
    score = lambda x, t: target.score(x, schedule.alpha(t), schedule.sigma(t))
    n, g = 2000, _gen(1)
    x = schedule.prior_sample(n, 2, g).double()
    steps = {"ddpm": 500, "ddim": 200, "pf_ode": 60, "sde": 500}[sampler]
    if sampler == "ddpm":
        out = ddpm_sample(score, schedule, x, steps, g)
    elif sampler == "ddim":
        out = ddim_sample(score, schedule, x, steps)
    elif sampler == "pf_ode":
        out = pf_ode_sample(score, schedule, x, steps)
    else:
        out = reverse_sde_sample(score, schedule, x, steps, g)
    out = out.numpy()
    sd = np.sqrt(np.diag(target.covs[0]))
    # mean within 4 standard errors; standard deviation within 4 standard errors (1/sqrt(2n) relative)
    # plus 2% for discretisation (ancestral steps under-disperse at coarse grids)
    assert np.all(np.abs(out.mean(0) - target.means[0]) < 4 * sd / math.sqrt(n))
    np.testing.assert_allclose(out.std(0), sd, rtol=4 / math.sqrt(2 * n) + 0.02)


def test_ode_and_sde_solvers_on_linear_equations():
    x0 = torch.ones(3, 1, dtype=torch.float64)
    times = torch.linspace(0.0, 1.0, 21, dtype=torch.float64)
    for method, tol in [("euler", 5e-2), ("heun", 2e-3), ("rk4", 1e-6)]:
        end = ode_solve(lambda x, t: -x, x0, times, method)
        assert abs(float(end[0, 0]) - math.exp(-1.0)) < tol
    path = ode_solve(lambda x, t: -x, x0, times.flip(0), "rk4", return_path=True)
    assert path.shape == (21, 3, 1) and float(path[-1, 0, 0]) == pytest.approx(math.e, rel=1e-6)
    # Ornstein-Uhlenbeck dx = -x dt + sqrt(2) dW from 0 keeps variance 1 - exp(-2t)
    x = torch.zeros(20_000, 1, dtype=torch.float64)
    end = sde_solve(lambda x, t: -x, lambda t: math.sqrt(2.0), x, torch.linspace(0, 1, 201), _gen())
    assert float(end.var()) == pytest.approx(1 - math.exp(-2.0), rel=0.04)
    with pytest.raises(ValueError, match="monotone"):
        ode_solve(lambda x, t: x, x0, torch.tensor([0.0, 1.0, 0.5]))


def test_ode_loglik_exact_for_a_linear_flow():
    # v = a x maps x to x e^{a T}: log p(x) = log N(x e^{aT}; 0, I) + a d T
    a, d = 0.7, 3
    x = torch.randn(10, d, generator=_gen(), dtype=torch.float64)
    prior = lambda z: -0.5 * (z ** 2).sum(1) - 0.5 * d * math.log(2 * math.pi)
    got = ode_loglik(lambda z, t: a * z, x, torch.linspace(0, 1, 11, dtype=torch.float64), prior)
    torch.testing.assert_close(got, prior(x * math.exp(a)) + a * d, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=IDS)
def test_pf_ode_loglik_matches_the_exact_gaussian_log_density(schedule):
    # zero mean, so that the N(0, (alpha^2 + sigma^2)(t_max) I) prior is the exact marginal up to
    # alpha(t_max)^2 |C - I|, and what is left is integration error
    target = GaussianMixture([1.0], [[0.0, 0.0]], [np.diag([0.25, 0.64])])
    score = lambda x, t: target.score(x, schedule.alpha(t), schedule.sigma(t))
    x = torch.tensor(target.sample(50, np.random.default_rng(0)))
    got = pf_ode_loglik(score, schedule, x, n_steps=100).numpy()
    want = target.logpdf(x.numpy(), float(schedule.alpha(schedule.t_min)), float(schedule.sigma(schedule.t_min)))
    np.testing.assert_allclose(got, want, atol=2e-3)


def test_denoising_errors_by_hand_and_zero_log_ratio_at_equal_models():
    sch = VPSchedule()
    model = TimeMLP(2, (16,), seed=0)
    x0 = torch.randn(8, 2, generator=_gen())
    t, noise = draw_t_noise(8, 2, sch, _gen(1))
    xt = sch.alpha(t)[:, None] * x0 + sch.sigma(t)[:, None] * noise
    want = ((noise - model(xt, t)) ** 2).mean(1)
    got = denoising_errors(model, x0, sch, t, noise)
    torch.testing.assert_close(got, want)
    ref = TimeMLP(2, (16,), seed=0)
    err_ref = denoising_errors(ref, x0, sch, t, noise)
    torch.testing.assert_close(got - err_ref, torch.zeros(8))
    # equal models: every likelihood-ratio loss sits at its chance value
    assert float(diffusion_dpo_loss(got, err_ref, got, err_ref, beta=500.0).detach()) == pytest.approx(math.log(2))
    zero = torch.zeros(8)
    assert float(ddo_loss(zero, zero[:5], alpha=0.5)) == pytest.approx(1.5 * math.log(2))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.0, 5.0), min_size=2, max_size=6), st.floats(0.1, 2.0), st.floats(0.01, 1.0))
def test_mapo_loss_matches_the_official_expression(errs, a, beta):
    def link(v):  # a v / (exp(a v) - 1), with its limit 1 at v = 0
        return 1.0 if a * v == 0 else a * v / math.expm1(a * v)
    w, l = list(errs), [v + 0.1 for v in reversed(errs)]
    margins = [1000 * (link(u) - link(v)) for u, v in zip(w, l)]
    want = np.mean(w) - beta * np.mean([-math.log1p(math.exp(-m)) if m > -30 else m for m in margins])
    got = mapo_loss(torch.tensor(w, dtype=torch.float64), torch.tensor(l, dtype=torch.float64), beta=beta, a=a)
    assert float(got) == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_preference_losses_move_the_right_way():
    zero = torch.zeros(4)
    better_w = diffusion_dpo_loss(zero - 0.1, zero, zero + 0.1, zero, beta=10.0)
    worse_w = diffusion_dpo_loss(zero + 0.1, zero, zero - 0.1, zero, beta=10.0)
    assert float(better_w) < math.log(2) < float(worse_w)
    assert float(ddo_loss(torch.ones(4), -torch.ones(4))) < float(ddo_loss(-torch.ones(4), torch.ones(4)))
    assert float(mapo_loss(torch.full((4,), 0.1), torch.full((4,), 1.0))) < \
        float(mapo_loss(torch.full((4,), 1.0), torch.full((4,), 0.1)))
    with pytest.raises(ValueError, match="reduction"):
        diffusion_dpo_loss(zero, zero, zero, zero, beta=1.0, reduction="sum")
    with pytest.raises(ValueError, match="beta"):
        ddo_loss(zero, zero, beta=0.0)


def test_training_learns_the_score_of_a_gaussian():
    target = _gaussian_target()
    sch = VPSchedule()
    data = target.sample(4000, np.random.default_rng(0))
    model = TimeMLP(2, (64, 64), seed=0)
    losses = train_eps_model(model, data, sch, steps=200, batch_size=128, lr=3e-3, generator=_gen())
    assert losses[-50:].mean() < 0.8 * losses[:10].mean()
    score = score_from_eps(model, sch)
    x = torch.tensor(target.sample(500, np.random.default_rng(1)), dtype=torch.float32)
    t = torch.full((500,), 0.5)
    exact = target.score(x, sch.alpha(t), sch.sigma(t))
    with torch.no_grad():
        rel = float((score(x, t) - exact).norm() / exact.norm())
    assert rel < 0.2
    loss = dsm_loss(model, x, sch, _gen())
    assert loss.ndim == 0 and float(loss.detach()) > 0
