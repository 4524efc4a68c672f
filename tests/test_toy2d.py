import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy import integrate, stats as sps

from shared.toy2d import Checkerboard, GaussianMixture, ring_mixture


def _random_mixture(seed: int, k: int = 3, d: int = 2) -> GaussianMixture:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, d, d))
    covs = a @ np.swapaxes(a, 1, 2) + 0.2 * np.eye(d)
    return GaussianMixture(rng.dirichlet(np.ones(k)), 2 * rng.standard_normal((k, d)), covs)


def _scipy_logpdf(gm: GaussianMixture, x, alpha=1.0, sigma=0.0):
    dens = sum(w * sps.multivariate_normal(alpha * m, alpha ** 2 * c + sigma ** 2 * np.eye(gm.dim)).pdf(x)
               for w, m, c in zip(gm.weights, gm.means, gm.covs))
    return np.log(dens)


@pytest.mark.parametrize("diagonal", [False, True])
@pytest.mark.parametrize("alpha,sigma", [(1.0, 0.0), (0.6, 0.8), (1.0, 2.5), (0.0, 1.0)])
def test_noised_logpdf_matches_scipy(alpha, sigma, diagonal):
    gm = _random_mixture(0)
    if diagonal:
        gm = GaussianMixture(gm.weights, gm.means, gm.covs * np.eye(2))
    x = np.random.default_rng(1).standard_normal((50, 2)) * 2
    np.testing.assert_allclose(gm.logpdf(x, alpha, sigma), _scipy_logpdf(gm, x, alpha, sigma), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("diagonal", [False, True])
def test_per_point_coefficients_match_one_at_a_time(diagonal):
    gm = _random_mixture(2)
    if diagonal:  # the elementwise path for axis-aligned components
        gm = GaussianMixture(gm.weights, gm.means, gm.covs * np.eye(2))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 2))
    a, s = rng.uniform(0.1, 1.0, 20), rng.uniform(0.05, 2.0, 20)
    want = np.array([gm.logpdf(x[i:i + 1], a[i], s[i])[0] for i in range(20)])
    np.testing.assert_allclose(gm.logpdf(x, a, s), want, atol=1e-12)
    want_score = np.concatenate([gm.score(x[i:i + 1], a[i], s[i]) for i in range(20)])
    np.testing.assert_allclose(gm.score(x, a, s), want_score, atol=1e-12)


@pytest.mark.parametrize("diagonal", [False, True])
@pytest.mark.parametrize("alpha,sigma", [(1.0, 0.0), (0.7, 0.5)])
def test_score_is_autograd_of_torch_distributions_log_prob(alpha, sigma, diagonal):
    gm = _random_mixture(4)
    if diagonal:
        gm = GaussianMixture(gm.weights, gm.means, gm.covs * np.eye(2))
    td = torch.distributions
    law = td.MixtureSameFamily(
        td.Categorical(torch.tensor(gm.weights)),
        td.MultivariateNormal(torch.tensor(alpha * gm.means),
                              torch.tensor(alpha ** 2 * gm.covs + sigma ** 2 * np.eye(2))))
    x = torch.randn(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2
    x.requires_grad_(True)
    grad = torch.autograd.grad(law.log_prob(x).sum(), x)[0]
    np.testing.assert_allclose(gm.score(x.detach().numpy(), alpha, sigma), grad.numpy(), atol=1e-10)
    # the torch path returns tensors and is itself differentiable
    out = gm.logpdf(x, alpha, sigma)
    assert torch.is_tensor(out) and out.dtype == torch.float64
    np.testing.assert_allclose(torch.autograd.grad(out.sum(), x)[0].numpy(), grad.numpy(), atol=1e-10)


def test_torch_input_keeps_dtype():
    gm = ring_mixture()
    x = torch.zeros(4, 2)
    assert gm.score(x, 0.5, 0.5).dtype == torch.float32
    assert gm.logpdf(x).shape == (4,)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.2, 1.0), st.floats(0.1, 1.0))
def test_noised_density_integrates_to_one(seed, alpha, sigma):
    gm = _random_mixture(seed, k=2)
    g = np.linspace(-25.0, 25.0, 501)  # spacing 0.1; the trapezoid rule is near-exact on Gaussians this wide
    gx, gy = np.meshgrid(g, g)
    dens = np.exp(gm.logpdf(np.stack([gx.ravel(), gy.ravel()], 1), alpha, sigma)).reshape(gx.shape)
    assert integrate.trapezoid(integrate.trapezoid(dens, g, axis=1), g) == pytest.approx(1.0, abs=1e-6)


def test_sample_moments_and_labels():
    gm = _random_mixture(5)
    x, labels = gm.sample(40_000, np.random.default_rng(0), return_labels=True)
    mean = (gm.weights[:, None] * gm.means).sum(0)
    assert np.allclose(x.mean(0), mean, atol=0.05)
    assert np.allclose(np.bincount(labels, minlength=3) / len(labels), gm.weights, atol=0.01)
    for k in range(3):
        np.testing.assert_allclose(np.cov(x[labels == k].T), gm.covs[k], atol=0.12)


def test_ring_mixture_geometry_and_nearest_mode():
    gm = ring_mixture(8, radius=3.0, std=0.15)
    np.testing.assert_allclose(np.linalg.norm(gm.means, axis=1), 3.0)
    np.testing.assert_allclose(gm.means[0], [3.0, 0.0], atol=1e-12)
    np.testing.assert_array_equal(gm.nearest_mode(gm.means * 1.1), np.arange(8))
    x, labels = gm.sample(500, np.random.default_rng(0), return_labels=True)
    np.testing.assert_array_equal(gm.nearest_mode(x), labels)


def test_shifted_and_isotropic():
    gm = GaussianMixture.isotropic([[0.0, 0.0], [1.0, 1.0]], 0.5)
    sh = gm.shifted([2.0, -1.0])
    x = np.array([[0.3, -0.2]])
    assert sh.logpdf(x + [2.0, -1.0])[0] == pytest.approx(gm.logpdf(x)[0])
    np.testing.assert_allclose(gm.responsibilities(x).sum(1), 1.0)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture([0.5, 0.6], [[0, 0], [1, 1]], np.tile(np.eye(2), (2, 1, 1)))
    with pytest.raises(ValueError, match="positive definite"):
        GaussianMixture([1.0], [[0, 0]], [[[1.0, 2.0], [2.0, 1.0]]])
    gm = ring_mixture()
    with pytest.raises(ValueError, match="shape"):
        gm.logpdf(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="sigma"):
        gm.score(np.zeros((3, 2)), 1.0, -0.1)
    with pytest.raises(ValueError, match="both be zero"):
        gm.logpdf(np.zeros((3, 2)), 0.0, 0.0)
    with pytest.raises(ValueError, match="alpha"):
        gm.logpdf(np.zeros((3, 2)), np.ones(4), 0.1)


def test_checkerboard_density_is_uniform_on_black_squares():
    board = Checkerboard(4, 2.0)
    x = board.sample(20_000, np.random.default_rng(0))
    assert np.all(np.isfinite(board.logpdf(x)))
    assert np.all(np.abs(x) <= 2.0)
    # 8 black squares of side 1: density 1/8
    assert board.logpdf(np.array([[-1.5, -1.5]]))[0] == pytest.approx(np.log(1 / 8))
    assert board.logpdf(np.array([[-0.5, -1.5]]))[0] == -np.inf
    assert board.logpdf(np.array([[2.5, 0.0]]))[0] == -np.inf
    # every black square gets its share
    cells = np.floor((x + 2.0)).astype(int)
    counts = np.bincount(cells[:, 0] * 4 + cells[:, 1], minlength=16)
    black = counts[counts > 0]
    assert len(black) == 8
    assert sps.chisquare(black).pvalue > 1e-3
    # integrates to one on a fine grid
    g = np.linspace(-2, 2, 401)[:-1] + 0.005
    gx, gy = np.meshgrid(g, g)
    dens = np.exp(board.logpdf(np.stack([gx.ravel(), gy.ravel()], 1)))
    assert dens.sum() * 0.01 ** 2 == pytest.approx(1.0, abs=1e-9)
