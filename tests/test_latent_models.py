import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy import stats

from shared.latent_models import Conv3dVAE, GaussianVAE, quadrature_marginal_loglik, quadrature_nodes

torch.set_num_threads(1)


def test_gauss_hermite_rule_integrates_polynomials_under_the_standard_normal():
    nodes, logw = quadrature_nodes(2, 8)
    w = np.exp(logw)
    assert w.sum() == pytest.approx(1.0)
    assert (w * nodes[:, 0] ** 2).sum() == pytest.approx(1.0)
    assert (w * nodes[:, 0] ** 4 * nodes[:, 1] ** 2).sum() == pytest.approx(3.0)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 2), st.floats(0.5, 1.0))
def test_linear_generator_gives_the_closed_form_gaussian_marginal(seed, d, sigma):
    rng = np.random.default_rng(seed)
    D = 3
    W, b = 0.5 * rng.normal(size=(D, d)), rng.normal(size=D)  # posterior sd >~ 0.5: well inside the rule's reach
    want_law = stats.multivariate_normal(b, W @ W.T + sigma ** 2 * np.eye(D))
    x = want_law.rvs(size=5, random_state=rng)  # typical points: far tails need more nodes
    got = quadrature_marginal_loglik(lambda z: z @ torch.tensor(W.T) + torch.tensor(b), torch.tensor(x), sigma, d,
                                        n_nodes=60)
    np.testing.assert_allclose(got.numpy(), want_law.logpdf(x), rtol=0, atol=1e-4)  # quadrature error


def test_equal_mass_rule_uses_normal_quantiles_and_beats_gauss_hermite_on_a_peaked_integrand():
    nodes, logw = quadrature_nodes(1, 4, rule="equal_mass")
    np.testing.assert_allclose(nodes[:, 0], stats.norm.ppf([0.125, 0.375, 0.625, 0.875]))
    np.testing.assert_allclose(np.exp(logw), 0.25)
    # a curve decoder with small sigma: the exact marginal comes from a 20,000-node equal-mass rule
    g = lambda z: torch.cat([torch.cos(2 * z), torch.sin(2 * z)], 1)
    x = g(torch.tensor([[0.3], [-1.1]], dtype=torch.float64)) + 0.01
    ref = quadrature_marginal_loglik(g, x, 0.02, 1, 20_000, rule="equal_mass")
    err_em = (quadrature_marginal_loglik(g, x, 0.02, 1, 256, rule="equal_mass") - ref).abs().max()
    err_gh = (quadrature_marginal_loglik(g, x, 0.02, 1, 256, rule="gauss_hermite") - ref).abs().max()
    assert err_em < 0.15 and err_gh > 10 * err_em
    with pytest.raises(ValueError, match="quadrature rule"):
        quadrature_nodes(1, 4, rule="simpson")


def test_loglik_is_differentiable_in_sigma():
    s = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    x = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ll = quadrature_marginal_loglik(lambda z: torch.cat([torch.cos(z), torch.sin(z)], 1), x, s, 1, 32).sum()
    ll.backward()
    assert torch.isfinite(s.grad)


def _linear_vae_with_exact_posterior():
    """A linear-Gaussian VAE (probabilistic PCA) whose encoder is the exact posterior."""
    D, d, sigma = 4, 2, 0.5
    vae = GaussianVAE(D, d, hidden=(), seed=0).double()
    W = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)  # orthogonal columns
    b = torch.tensor([0.5, -1.0, 0.0, 2.0], dtype=torch.float64)
    M = W.T @ W + sigma ** 2 * torch.eye(d, dtype=torch.float64)  # diagonal, so the posterior is diagonal
    with torch.no_grad():
        vae.decoder.net[0].weight.copy_(W)
        vae.decoder.net[0].bias.copy_(b)
        vae.log_sigma.fill_(math.log(sigma))
        enc = vae.encoder.net[0]
        enc.weight.zero_()
        enc.weight[:d] = torch.linalg.solve(M, W.T)
        enc.bias[:d] = -torch.linalg.solve(M, W.T @ b)
        enc.bias[d:] = torch.log(sigma ** 2 / torch.diagonal(M))
    exact = stats.multivariate_normal(b.numpy(), (W @ W.T).numpy() + sigma ** 2 * np.eye(D))
    return vae, exact


def test_elbo_and_iwae_equal_the_exact_marginal_at_the_exact_posterior():
    vae, exact = _linear_vae_with_exact_posterior()
    x = torch.tensor(exact.rvs(size=20, random_state=1))
    want = exact.logpdf(x.numpy())
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        np.testing.assert_allclose(vae.elbo(x, g, n_samples=3).numpy(), want, atol=1e-8)
        np.testing.assert_allclose(vae.iwae_loglik(x, 5, g).numpy(), want, atol=1e-8)


def test_iwae_tightens_toward_the_exact_marginal_with_a_wrong_encoder():
    vae, exact = _linear_vae_with_exact_posterior()
    with torch.no_grad():
        vae.encoder.net[0].bias[2:] += 1.0  # too wide a posterior
    x = torch.tensor(exact.rvs(size=200, random_state=2))
    want = exact.logpdf(x.numpy()).mean()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        elbo = vae.elbo(x, g, 8).mean().item()
        iw = [vae.iwae_loglik(x, k, g).mean().item() for k in (1, 10, 200)]
    assert elbo < iw[1] < iw[2] <= want + 0.02
    assert want - iw[2] < 0.1 * (want - elbo)


def test_bernoulli_likelihood_and_validation():
    vae = GaussianVAE(6, 2, hidden=(8,), likelihood="bernoulli", seed=0)
    x = (torch.rand(5, 6, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    out = vae.elbo(x, torch.Generator().manual_seed(0))
    assert out.shape == (5,) and torch.all(out < 0)
    with pytest.raises(ValueError, match="likelihood"):
        GaussianVAE(6, 2, likelihood="poisson")


@pytest.mark.parametrize("shape,strides", [((8, 8, 96), ((1, 1, 2), (1, 1, 2))), ((5, 7, 33), (2, (1, 2, 3))),
                                           ((6, 6, 20), ((1, 1, 1),))])
def test_conv3d_vae_decodes_to_the_input_shape(shape, strides):
    vae = Conv3dVAE(shape, 3, channels=(2, 3)[:len(strides)], strides=strides, seed=0)
    x = torch.rand(4, 1, *shape, generator=torch.Generator().manual_seed(0))
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (4, 3)
    assert vae.decode(mu).shape == x.shape


def test_conv3d_vae_likelihood_is_the_bernoulli_log_pmf_summed_over_voxels():
    vae = Conv3dVAE((4, 4, 10), 2, channels=(2,), strides=((1, 1, 2),), seed=1)
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(3, 1, 4, 4, 10, generator=g) > 0.5).double()
    vae = vae.double()
    z = torch.randn(5, 3, 2, generator=g, dtype=torch.float64)
    with torch.no_grad():
        got = vae.log_likelihood(x, z)
        logits = vae.decode(z.reshape(-1, 2)).reshape(5, 3, 1, 4, 4, 10)
        want = torch.distributions.Bernoulli(logits=logits).log_prob(x.expand_as(logits)).sum((2, 3, 4, 5))
    assert got.shape == (5, 3)
    torch.testing.assert_close(got, want)


def test_conv3d_vae_objectives_order_and_beta():
    vae = Conv3dVAE((4, 4, 12), 2, channels=(2, 2), seed=3).double()
    x = torch.rand(6, 1, 4, 4, 12, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with torch.no_grad():
        same = [vae.elbo(x, torch.Generator().manual_seed(5)), vae.iwae_loglik(x, 1, torch.Generator().manual_seed(5))]
        torch.testing.assert_close(same[0], same[1])
        e1 = vae.elbo(x, torch.Generator().manual_seed(6), 4)
        e0 = vae.elbo(x, torch.Generator().manual_seed(6), 4, beta=0.0)
        recon = vae.log_likelihood(x, vae._draw(x, 4, torch.Generator().manual_seed(6))[0]).mean(0)
        e2 = vae.elbo(x, torch.Generator().manual_seed(6), 4, beta=2.0)
    torch.testing.assert_close(e0, recon)
    torch.testing.assert_close(e2 - e1, e1 - e0)  # the objective is linear in beta
    assert vae.iwae_loglik(x, 64, torch.Generator().manual_seed(7)).mean() > vae.elbo(x, torch.Generator().manual_seed(7), 64).mean()
    with pytest.raises(ValueError, match="shape"):
        vae.encode(torch.zeros(2, 1, 4, 4, 11, dtype=torch.float64))
    with pytest.raises(ValueError, match="channels and strides"):
        Conv3dVAE((4, 4, 12), 2, channels=(2, 2), strides=((1, 1, 2),))


def test_conv3d_vae_seed_fixes_the_weights_and_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b = Conv3dVAE((4, 4, 8), 2, channels=(2,), strides=(2,), seed=5), Conv3dVAE((4, 4, 8), 2, channels=(2,), strides=(2,), seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    c = Conv3dVAE((4, 4, 8), 2, channels=(2,), strides=(2,), seed=6)
    assert not torch.equal(a.to_posterior.weight, c.to_posterior.weight)
