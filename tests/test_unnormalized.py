import math

import numpy as np
import pytest
import torch
from scipy import optimize, stats

from shared.unnormalized import EnergyMLP, MecoEstimator, grid_log_partition, nce_loss

torch.set_num_threads(1)


def test_grid_log_partition_of_a_gaussian():
    s1, s2 = 0.7, 1.3
    f = lambda x: -0.5 * (x[:, 0] ** 2 / s1 ** 2 + x[:, 1] ** 2 / s2 ** 2)
    assert grid_log_partition(f, ((-8, 8), (-10, 10)), 400) == pytest.approx(math.log(2 * math.pi * s1 * s2), abs=1e-6)
    with pytest.raises(ValueError, match="bounds"):
        grid_log_partition(f, ((1, -1), (0, 1)))


def test_nce_is_minimised_at_the_true_normaliser():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, 50_000), rng.normal(0, 2, 100_000)
    lq = lambda v: torch.tensor(stats.norm(0, 2).logpdf(v))
    xd, yn = torch.tensor(x), torch.tensor(y)

    def loss(c):
        return float(nce_loss(-0.5 * xd ** 2 + c, lq(x), -0.5 * yn ** 2 + c, lq(y)))

    c_hat = optimize.minimize_scalar(loss, bounds=(-3, 1), method="bounded").x
    assert c_hat == pytest.approx(-0.5 * math.log(2 * math.pi), abs=0.02)
    # the formula, by hand, at one point
    c = -1.0
    g_d, g_n = -0.5 * x ** 2 + c - stats.norm(0, 2).logpdf(x) - math.log(2), -0.5 * y ** 2 + c - stats.norm(0, 2).logpdf(y) - math.log(2)
    want = np.mean(np.log1p(np.exp(-g_d))) + 2 * np.mean(np.log1p(np.exp(g_n)))
    assert loss(c) == pytest.approx(want, rel=1e-9)


def test_meco_recovers_a_gaussian_mean_and_tracks_log_z():
    gen = torch.Generator().manual_seed(0)
    R, theta = 2.0, torch.zeros((), requires_grad=True)
    opt = torch.optim.SGD([theta], lr=0.05)
    meco = MecoEstimator(gamma=0.1)
    noise = torch.distributions.Normal(0.0, 3.0)
    for _ in range(400):
        xd = R + torch.randn(64, generator=gen)
        xn = 3.0 * torch.randn(256, generator=gen)
        loss = meco.loss(-0.5 * (xd - theta) ** 2, -0.5 * (xn - theta) ** 2, noise.log_prob(xn))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(theta.detach()) == pytest.approx(R, abs=0.15)
    assert meco.log_u == pytest.approx(0.5 * math.log(2 * math.pi), abs=0.15)  # log Z of exp(-(x-theta)^2/2)


def test_energy_mlp_shapes_and_constant():
    m = EnergyMLP(2, (8,), learn_constant=True, seed=0)
    x = torch.zeros(5, 2)
    assert m(x).shape == (5,)
    with torch.no_grad():
        m.constant.fill_(1.0)
    torch.testing.assert_close(m.log_unnormalized(x), -m(x))
    with pytest.raises(ValueError, match="gamma"):
        MecoEstimator(0.0)
