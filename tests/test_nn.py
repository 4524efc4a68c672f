"""Unit tests of shared.nn: MLP, auto-encoder training, contractive penalty, score estimate."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from shared.nn import (MLP, SkipReconstruction, contractive_penalty, jacobian_rows,
                       score_from_autoencoder, train_contractive_autoencoder,
                       train_denoising_autoencoder)


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# MLP ---------------------------------------------------------------------------------------
def test_mlp_shapes_and_layers():
    net = MLP([3, 16, 8, 2], activation="tanh", seed=0)
    assert net(torch.randn(5, 3)).shape == (5, 2)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(3, 16), (16, 8), (8, 2)]
    assert sum(isinstance(m, nn.Tanh) for m in net.modules()) == 2  # no activation on the output


def test_mlp_seed_fixes_the_weights():
    a, b, c = MLP([2, 8, 2], seed=3), MLP([2, 8, 2], seed=3), MLP([2, 8, 2], seed=4)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))
    bound = 1 / np.sqrt(2)
    assert float(a.net[0].weight.detach().abs().max()) <= bound


@pytest.mark.parametrize("sizes", [[3], [], [3, 0, 2], [3, -1], [3, 2.5], "12", 4])
def test_mlp_rejects_bad_sizes(sizes):
    with pytest.raises(ValueError, match="size"):
        MLP(sizes)


def test_mlp_rejects_bad_activation_and_input():
    with pytest.raises(ValueError, match="unknown activation"):
        MLP([2, 2], activation="swishy")
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        MLP([2, 2])(torch.randn(4, 3))


# Jacobian and contractive penalty ------------------------------------------------------------
def test_contractive_penalty_of_a_linear_map_is_the_frobenius_norm():
    torch.manual_seed(0)
    lin = nn.Linear(3, 2)
    x = torch.randn(6, 3)
    pen = contractive_penalty(lin, x)
    expected = (lin.weight ** 2).sum().expand(6)
    torch.testing.assert_close(pen, expected)


def test_jacobian_rows_match_torch_autograd_jacobian():
    net = MLP([3, 10, 2], activation="softplus", seed=1)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    rows = jacobian_rows(net, x)
    for i in range(4):
        ref = torch.autograd.functional.jacobian(lambda v: net(v[None])[0], x[i])
        torch.testing.assert_close(rows[i], ref)
        torch.testing.assert_close(contractive_penalty(net, x)[i], (ref ** 2).sum())


def test_contractive_penalty_is_differentiable():
    net = MLP([2, 8, 2], seed=0)
    contractive_penalty(net, torch.randn(5, 2)).sum().backward()
    weights = [m.weight for m in net.modules() if isinstance(m, nn.Linear)]
    assert all(w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0
               for w in weights)


def test_jacobian_rows_rejects_numpy():
    with pytest.raises(ValueError, match="torch tensor"):
        jacobian_rows(MLP([1, 1]), np.zeros((3, 1)))


# score estimate ------------------------------------------------------------------------------
def test_score_from_a_known_linear_reconstruction():
    lin = nn.Linear(1, 1)
    with torch.no_grad():
        lin.weight.fill_(0.8)
        lin.bias.fill_(0.3)
    x = np.linspace(-2, 2, 9)
    sigma = 0.5
    np.testing.assert_allclose(score_from_autoencoder(lin, x, sigma)[:, 0],
                               ((0.8 - 1) * x + 0.3) / sigma ** 2, rtol=1e-5, atol=1e-5)
    skip = SkipReconstruction(lin, scale=sigma ** 2)  # r(x) = x + sigma^2 f(x): score is f
    np.testing.assert_allclose(score_from_autoencoder(skip, x, sigma)[:, 0], 0.8 * x + 0.3,
                               rtol=1e-5, atol=1e-5)


def test_score_from_autoencoder_validates():
    with pytest.raises(ValueError, match="sigma"):
        score_from_autoencoder(MLP([1, 1]), np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="r must map"):
        score_from_autoencoder(MLP([1, 2]), np.zeros(3), 0.1)


# training ------------------------------------------------------------------------------------
MU, SD = 1.0, 0.5


def _gaussian_data(n=4000, seed=0):
    return np.random.default_rng(seed).normal(MU, SD, size=(n, 1))


def test_dae_recovers_the_smoothed_gaussian_score():
    sigma = 0.3
    model, losses = train_denoising_autoencoder(
        _gaussian_data(), sigma, hidden=[32], steps=600, batch_size=256, lr=1e-2,
        lr_schedule="cosine", seed=0, residual=True, antithetic=True)
    x = np.linspace(MU - 2 * SD, MU + 2 * SD, 41)
    smoothed = -(x - MU) / (SD ** 2 + sigma ** 2)  # score of N(MU, SD^2 + sigma^2)
    est = score_from_autoencoder(model, x, sigma)[:, 0]
    assert np.linalg.norm(est - smoothed) / np.linalg.norm(smoothed) < 0.15
    assert losses.shape == (600,) and np.isfinite(losses).all()
    assert losses[-50:].mean() < losses[:50].mean()


def test_dae_training_is_deterministic_and_plain_path_runs():
    data = _gaussian_data(500)
    runs = [train_denoising_autoencoder(data, 0.2, hidden=[8], steps=30, batch_size=64, seed=5)
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    for pa, pb in zip(runs[0][0].parameters(), runs[1][0].parameters()):
        assert torch.equal(pa, pb)
    other = train_denoising_autoencoder(data, 0.2, hidden=[8], steps=30, batch_size=64, seed=6)
    assert not np.array_equal(runs[0][1], other[1])


def test_linear_cae_reaches_the_rcae_optimum():
    # For Gaussian data and r(x) = a x + b, E[(r(x) - x)^2] + sigma^2 a^2 is minimised by
    # a = SD^2 / (SD^2 + sigma^2), b = (1 - a) MU: the score estimate is -(x - MU)/(SD^2 + sigma^2).
    sigma = 0.4
    lin = nn.Linear(1, 1)
    model, _ = train_contractive_autoencoder(_gaussian_data(), sigma, steps=800, batch_size=512,
                                             lr=2e-2, lr_schedule="cosine", seed=0, model=lin)
    a = SD ** 2 / (SD ** 2 + sigma ** 2)
    assert model.weight.item() == pytest.approx(a, abs=0.03)
    assert model.bias.item() == pytest.approx((1 - a) * MU, abs=0.03)


@pytest.mark.parametrize("kwargs, match", [
    (dict(sigma=0.0), "sigma"), (dict(sigma=float("nan")), "sigma"), (dict(steps=0), "steps"),
    (dict(batch_size=1.5), "batch_size"), (dict(lr=-1.0), "lr"), (dict(device="tpu"), "device"),
    (dict(lr_schedule="linear"), "lr_schedule"), (dict(data=np.zeros((2, 2, 2))), "shape"),
    (dict(data=np.array([[np.nan]])), "NaN"), (dict(model=nn.Linear(1, 1), residual=True), "residual"),
])
def test_training_validates_its_inputs(kwargs, match):
    args = dict(data=np.zeros((10, 1)), sigma=0.1, steps=2, batch_size=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        train_denoising_autoencoder(args.pop("data"), args.pop("sigma"), **args)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_training_and_scoring_on_cuda():
    model, losses = train_denoising_autoencoder(_gaussian_data(500), 0.3, hidden=[16], steps=50,
                                                batch_size=64, seed=0, device="cuda",
                                                residual=True, antithetic=True)
    assert next(model.parameters()).is_cuda
    est = score_from_autoencoder(model, np.linspace(0, 2, 5), 0.3)
    assert isinstance(est, np.ndarray) and est.shape == (5, 1)
    cae, _ = train_contractive_autoencoder(_gaussian_data(500), 0.3, hidden=[16], steps=20,
                                           batch_size=64, seed=0, device="cuda")
    assert next(cae.parameters()).is_cuda
