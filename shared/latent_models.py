"""Latent-variable likelihoods: the exact marginal likelihood of a low-dimensional generator by
quadrature, and VAEs with their ELBO and importance-weighted estimate.

- :func:`quadrature_nodes`: tensor-product rules for expectations under N(0, I): Gauss-Hermite, or
  equal-mass (normal quantiles at the midpoints of M equal-probability cells, weights 1/M);
- :func:`quadrature_marginal_loglik`: ``log int N(x; g(z), sigma^2 I) N(z; 0, I) dz`` on such a grid
  (latent dimension 1-3), differentiable in ``g`` and ``sigma``;
- :class:`GaussianVAE`: MLP encoder ``q(z|x) = N(mu, diag(exp(logvar)))``, MLP decoder with a
  Gaussian (learned scalar sigma) or Bernoulli likelihood; :meth:`GaussianVAE.elbo` and
  :meth:`GaussianVAE.iwae_loglik` per sample, in nats;
- :class:`Conv3dVAE`: the same objectives for volumes (n, 1, X, Y, E), e.g. spectrum-image patches,
  with 3-D convolutions over both spatial axes and the spectral axis.
Every random draw comes from a caller's ``torch.Generator``.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

import numpy as np
import torch
from scipy.stats import norm
import torch.nn.functional as F
from torch import nn

from .nn import MLP
from .validation import non_negative_float, positive_int

LOG_2PI = math.log(2.0 * math.pi)
LIKELIHOODS = ("gaussian", "bernoulli")


QUADRATURE_RULES = ("gauss_hermite", "equal_mass")


def quadrature_nodes(latent_dim: int, n_nodes: int, rule: str = "gauss_hermite") -> tuple[np.ndarray, np.ndarray]:
    """Nodes (n_nodes^latent_dim, latent_dim) and log-weights (summing to 1 in probability) of a
    tensor-product rule for expectations under N(0, I).

    ``rule="gauss_hermite"`` is exact for polynomials of degree < 2 n_nodes but spreads its nodes far into
    the tails, leaving gaps near 0 where a sharply peaked integrand (a generator with small sigma) falls
    between nodes; ``rule="equal_mass"`` puts node k at the normal quantile ``Phi^-1((k - 1/2) / M)`` with
    weight 1/M, so the nodes follow the mass.
    """
    latent_dim, n_nodes = positive_int("latent_dim", latent_dim), positive_int("n_nodes", n_nodes)
    if rule == "gauss_hermite":
        z, w = np.polynomial.hermite_e.hermegauss(n_nodes)
        logw1 = np.log(w / w.sum())
    elif rule == "equal_mass":
        z = norm.ppf((np.arange(n_nodes) + 0.5) / n_nodes)
        logw1 = np.full(n_nodes, -np.log(n_nodes))
    else:
        raise ValueError(f"unknown quadrature rule {rule!r}; valid: {', '.join(QUADRATURE_RULES)}")
    nodes = np.array(list(itertools.product(z, repeat=latent_dim)))
    logw = np.array([logw1[list(i)].sum() for i in itertools.product(range(n_nodes), repeat=latent_dim)])
    return nodes, logw


def quadrature_marginal_loglik(decoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, sigma,
                               latent_dim: int, n_nodes: int = 64, rule: str = "gauss_hermite") -> torch.Tensor:
    """``log p(x) = log E_{z ~ N(0, I)} N(x; decoder(z), sigma^2 I)`` per row of ``x`` (n, D), in nats.

    ``decoder`` maps (M, latent_dim) to (M, D); ``sigma`` a positive float or scalar tensor (e.g. the
    exp of a learned log-sigma). Exact up to quadrature error, which vanishes as n_nodes grows when
    sigma is not much smaller than the decoder's variation between nodes (see :func:`quadrature_nodes`).
    """
    nodes, logw = quadrature_nodes(latent_dim, n_nodes, rule)
    z = torch.as_tensor(nodes, dtype=x.dtype, device=x.device)
    means = decoder(z)  # (M, D)
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    d = x.shape[1]
    sq = torch.cdist(x, means) ** 2  # (n, M)
    logn = -0.5 * sq / sigma ** 2 - d * (torch.log(sigma) + 0.5 * LOG_2PI)
    return torch.logsumexp(logn + torch.as_tensor(logw, dtype=x.dtype, device=x.device), dim=1)


class _LatentGaussianVAE(nn.Module):
    """ELBO and importance-weighted bound shared by the VAEs below; a subclass gives ``encode(x)`` ->
    (mu, logvar), each (n, latent), and ``log_likelihood(x, z)`` for z (..., n, latent) -> (..., n)."""

    latent: int

    def _decode_log_likelihood(self, x, out):
        if self.likelihood == "bernoulli":
            ll = -F.binary_cross_entropy_with_logits(out, x.expand_as(out), reduction="none")
        else:
            s = self.log_sigma
            ll = -0.5 * (x - out) ** 2 * torch.exp(-2 * s) - (s + 0.5 * LOG_2PI)
        return ll.flatten(start_dim=ll.dim() - x.dim() + 1).sum(-1)

    def _draw(self, x, n_samples, generator):
        mu, logvar = self.encode(x)
        eps = torch.randn(n_samples, *mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        log_q = (-0.5 * (eps ** 2 + logvar + LOG_2PI)).sum(-1)
        log_prior = (-0.5 * (z ** 2 + LOG_2PI)).sum(-1)
        return z, log_q, log_prior

    def elbo(self, x: torch.Tensor, generator: torch.Generator, n_samples: int = 1, *,
             beta: float = 1.0) -> torch.Tensor:
        """Monte-Carlo ELBO per row of ``x`` (n,), averaged over ``n_samples`` reparameterised draws;
        ``beta`` weights the single-sample KL term ``log q(z|x) - log p(z)`` (beta-VAE; 1 is the ELBO)."""
        z, log_q, log_prior = self._draw(x, positive_int("n_samples", n_samples), generator)
        return (self.log_likelihood(x, z) + non_negative_float("beta", beta) * (log_prior - log_q)).mean(0)

    def iwae_loglik(self, x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
        """Importance-weighted lower bound ``log (1/k) sum_i p(x, z_i) / q(z_i | x)`` per row (n,); it
        increases to ``log p(x)`` as k grows."""
        k = positive_int("k", k)
        z, log_q, log_prior = self._draw(x, k, generator)
        return torch.logsumexp(self.log_likelihood(x, z) + log_prior - log_q, dim=0) - math.log(k)

class GaussianVAE(_LatentGaussianVAE):
    """VAE with a diagonal-Gaussian encoder and an MLP decoder.

    Parameters
    ----------
    dim, latent : data and latent dimensions
    hidden : encoder widths (the decoder mirrors them); ``()`` gives linear maps
    likelihood : "gaussian" (mean = decoder output, one learned scalar ``log_sigma``) or "bernoulli"
        (decoder output = logits; data in {0, 1} or [0, 1])
    """

    def __init__(self, dim: int, latent: int, hidden: Sequence[int] = (64,), *, likelihood: str = "gaussian",
                 activation: str = "silu", seed: int | None = None):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}; valid: {', '.join(LIKELIHOODS)}")
        self.dim, self.latent, self.likelihood = positive_int("dim", dim), positive_int("latent", latent), likelihood
        self.encoder = MLP([dim, *hidden, 2 * latent], activation, seed=seed)
        self.decoder = MLP([latent, *reversed(tuple(hidden)), dim], activation,
                           seed=None if seed is None else seed + 1)
        self.log_sigma = nn.Parameter(torch.zeros(())) if likelihood == "gaussian" else None

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each (n, latent)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``log p(x | z)`` for z of shape (..., n, latent), result (..., n)."""
        out = self.decoder(z.reshape(-1, self.latent)).reshape(*z.shape[:-1], self.dim)
        return self._decode_log_likelihood(x, out)


class Conv3dVAE(_LatentGaussianVAE):
    """VAE on volumes x of shape (n, 1, X, Y, E) (two spatial axes and a spectral axis).

    The encoder is a stack of ``Conv3d(kernel 3, padding 1)`` + SiLU blocks with the given ``channels``
    and per-block ``strides`` (an int or an (sx, sy, se) triple; e.g. (1, 1, 2) halves the spectral
    axis only), then a linear map to (mu, logvar); the decoder mirrors it with transposed convolutions
    whose output padding restores ``shape`` exactly.

    Parameters
    ----------
    shape : (X, Y, E) of one input volume
    latent : latent dimension
    channels, strides : per encoder block
    likelihood : "bernoulli" (decoder output = logits; data scaled to [0, 1]) or "gaussian" (one
        learned scalar ``log_sigma``)
    """

    def __init__(self, shape: Sequence[int], latent: int, channels: Sequence[int] = (4, 8),
                 strides: Sequence = ((1, 1, 2), (1, 1, 2)), *, likelihood: str = "bernoulli", seed: int | None = None):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}; valid: {', '.join(LIKELIHOODS)}")
        shape = tuple(positive_int("shape", s) for s in shape)
        if len(shape) != 3:
            raise ValueError(f"shape must be (X, Y, E), got {shape}")
        if len(channels) == 0 or len(channels) != len(strides):
            raise ValueError(f"channels and strides need one entry per block, got {len(channels)} and {len(strides)}")
        self.shape, self.latent, self.likelihood = shape, positive_int("latent", latent), likelihood
        strides = [(s,) * 3 if isinstance(s, int) else tuple(s) for s in strides]
        # torch's default initialisation, drawn from a private copy of the global generator when seeded
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(int(seed))
            self._build(shape, channels, strides, latent)
        self.log_sigma = nn.Parameter(torch.zeros(())) if likelihood == "gaussian" else None

    def _build(self, shape, channels, strides, latent):
        sizes, blocks, c_in = [shape], [], 1
        for c, st in zip(channels, strides):
            blocks += [nn.Conv3d(c_in, positive_int("channels", c), 3, stride=st, padding=1), nn.SiLU()]
            sizes.append(tuple((n + 2 - 3) // s + 1 for n, s in zip(sizes[-1], st)))
            c_in = c
        self.encoder = nn.Sequential(*blocks, nn.Flatten())
        self._inner = (c_in, *sizes[-1])
        flat = int(np.prod(self._inner))
        self.to_posterior = nn.Linear(flat, 2 * latent)
        self.from_latent = nn.Linear(latent, flat)
        layers, outs = [], list(channels[-2::-1]) + [1]
        for i, (st, c_out) in enumerate(zip(strides[::-1], outs)):
            n_in, n_out = sizes[-1 - i], sizes[-2 - i]
            pad = tuple(o - ((a - 1) * s - 2 + 3) for o, a, s in zip(n_out, n_in, st))
            layers.append(nn.ConvTranspose3d(channels[-1 - i], c_out, 3, stride=st, padding=1, output_padding=pad))
            if c_out != 1:
                layers.append(nn.SiLU())
        self.decoder = nn.Sequential(*layers)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each (n, latent), of volumes x (n, 1, X, Y, E)."""
        if x.dim() != 5 or tuple(x.shape[1:]) != (1, *self.shape):
            raise ValueError(f"x must have shape (n, 1, {', '.join(map(str, self.shape))}), got {tuple(x.shape)}")
        mu, logvar = self.to_posterior(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output (logits or means) (m, 1, X, Y, E) for z (m, latent)."""
        return self.decoder(self.from_latent(z).reshape(-1, *self._inner))

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``log p(x | z)`` summed over voxels, for z of shape (..., n, latent); result (..., n)."""
        out = self.decode(z.reshape(-1, self.latent)).reshape(*z.shape[:-1], *x.shape[1:])
        return self._decode_log_likelihood(x, out)
