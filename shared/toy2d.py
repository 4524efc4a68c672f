"""Low-dimensional targets whose log-density is known exactly: Gaussian mixtures and a checkerboard.

- :class:`GaussianMixture`: sampling, and the exact log-density and score of the mixture
  *after noising*, ``alpha * X + sigma * Z`` with ``Z ~ N(0, I)``. A Gaussian mixture stays a
  Gaussian mixture under that map (component ``k`` becomes ``N(alpha m_k, alpha^2 S_k + sigma^2 I)``),
  so every diffusion time has a closed-form marginal: the analytic teacher of a diffusion model.
- :func:`ring_mixture`: equal-weight modes on a circle (the usual 8-Gaussians target).
- :class:`Checkerboard`: the uniform density on the black squares of a board.

Points are ``(n, d)`` arrays. The mixture methods accept a numpy array (and return numpy) or a
torch tensor (and return a tensor of the same dtype, differentiable in ``x``); they compute in
float64 inside. Sampling draws from a caller's ``numpy.random.Generator``.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .validation import positive_float, positive_int

LOG_2PI = math.log(2.0 * math.pi)


def _as_tensor(v, like: torch.Tensor, name: str) -> torch.Tensor:
    """A scalar or per-point (n,) noise coefficient as a float64 tensor on ``like``'s device."""
    t = torch.as_tensor(v.detach() if torch.is_tensor(v) else np.asarray(v, dtype=float),
                        dtype=torch.float64, device=like.device)
    if t.ndim > 1 or (t.ndim == 1 and t.shape[0] != like.shape[0]):
        raise ValueError(f"{name} must be a scalar or have shape ({like.shape[0]},), got {tuple(t.shape)}")
    if not torch.all(torch.isfinite(t)):
        raise ValueError(f"{name} must be finite")
    return t


class GaussianMixture:
    """Mixture ``sum_k w_k N(m_k, S_k)`` in ``d`` dimensions.

    Parameters
    ----------
    weights : array (K,), non-negative, summing to 1
    means : array (K, d)
    covs : array (K, d, d), symmetric positive definite
    """

    def __init__(self, weights, means, covs):
        means = np.asarray(means, dtype=float)
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, d), got {means.shape}")
        k, d = means.shape
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (k,) or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise ValueError(f"weights must be {k} non-negative numbers summing to 1")
        covs = np.asarray(covs, dtype=float)
        if covs.shape != (k, d, d):
            raise ValueError(f"covs must have shape ({k}, {d}, {d}), got {covs.shape}")
        if not np.allclose(covs, np.swapaxes(covs, 1, 2)) or np.any(np.linalg.eigvalsh(covs) <= 0):
            raise ValueError("every covariance must be symmetric positive definite")
        self.weights, self.means, self.covs = weights / weights.sum(), means, covs
        self.n_modes, self.dim = k, d
        self._chol = np.linalg.cholesky(covs)
        self._diagonal = bool(np.all(covs == covs * np.eye(d)))

    @classmethod
    def isotropic(cls, means, std: float, weights=None) -> "GaussianMixture":
        """Components ``N(m_k, std^2 I)``; equal weights unless ``weights`` is given."""
        means = np.asarray(means, dtype=float)
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, d), got {means.shape}")
        std = positive_float("std", std)
        k, d = means.shape
        weights = np.full(k, 1.0 / k) if weights is None else weights
        return cls(weights, means, np.tile(std ** 2 * np.eye(d), (k, 1, 1)))

    def __repr__(self) -> str:
        return f"GaussianMixture(n_modes={self.n_modes}, dim={self.dim})"

    # ---------------------------------------------------------------- sampling
    def sample(self, n: int, rng: np.random.Generator, return_labels: bool = False):
        """``n`` draws, shape (n, d); with ``return_labels`` also the component of each, shape (n,)."""
        n = positive_int("n", n)
        labels = rng.choice(self.n_modes, size=n, p=self.weights)
        x = self.means[labels] + np.einsum("nij,nj->ni", self._chol[labels], rng.standard_normal((n, self.dim)))
        return (x, labels) if return_labels else x

    # ----------------------------------------------------- exact noised density
    def _components(self, x, alpha, sigma):
        """Per-component log-densities (n, K) and scores (n, K, d) of alpha X + sigma Z, float64 torch."""
        is_numpy = not torch.is_tensor(x)
        xt = torch.as_tensor(np.asarray(x, dtype=float)) if is_numpy else x
        if xt.ndim != 2 or xt.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}), got {tuple(xt.shape)}")
        x64 = xt.to(torch.float64)
        a = _as_tensor(alpha, x64, "alpha")
        s = _as_tensor(sigma, x64, "sigma")
        if torch.any(s < 0):
            raise ValueError("sigma must be non-negative")
        if torch.any((a == 0) & (s == 0)):
            raise ValueError("alpha and sigma cannot both be zero (the law would be a point mass)")
        # Samplers pass one time for the whole batch: collapse equal per-point coefficients so that
        # only K covariances are factorised instead of n * K.
        if a.ndim == 1 and s.ndim == 1 and torch.all(a == a[0]) and torch.all(s == s[0]):
            a, s = a[0], s[0]
        means = torch.as_tensor(self.means, dtype=torch.float64, device=x64.device)
        covs = torch.as_tensor(self.covs, dtype=torch.float64, device=x64.device)
        eye = torch.eye(self.dim, dtype=torch.float64, device=x64.device)
        diff = x64[:, None, :] - a[..., None, None] * means  # (n, K, d)
        if self._diagonal:  # elementwise: no matrix algebra at all
            var = a[..., None, None] ** 2 * torch.diagonal(covs, dim1=1, dim2=2) + s[..., None, None] ** 2
            prec_diff = diff / var  # var is (K, d) or (n, K, d)
            logdet = torch.log(var).sum(-1)
        else:
            a_, s_ = a[..., None, None, None], s[..., None, None, None]  # broadcast over (K, d, d)
            cov = a_ ** 2 * covs + s_ ** 2 * eye  # (K, d, d), or (n, K, d, d) for per-point coefficients
            prec = torch.linalg.inv(cov)
            logdet = torch.linalg.slogdet(cov)[1]  # (K,) or (n, K)
            if cov.ndim == 3:
                prec_diff = torch.einsum("kij,nkj->nki", prec, diff)
            else:
                prec_diff = torch.einsum("nkij,nkj->nki", prec, diff)
        logn = -0.5 * (self.dim * LOG_2PI + logdet + (diff * prec_diff).sum(-1))
        scores = -prec_diff
        logw = torch.log(torch.as_tensor(self.weights, dtype=torch.float64, device=x64.device))
        return logn + logw, scores, is_numpy, xt.dtype

    @staticmethod
    def _out(t: torch.Tensor, is_numpy: bool, dtype):
        return t.detach().cpu().numpy() if is_numpy else t.to(dtype)

    def logpdf(self, x, alpha=1.0, sigma=0.0):
        """Exact ``log p(x)`` of ``alpha X + sigma Z``, shape (n,), in nats.

        ``alpha`` and ``sigma`` are scalars or per-point arrays of shape (n,); the defaults give the
        mixture itself.
        """
        logc, _, is_numpy, dtype = self._components(x, alpha, sigma)
        return self._out(torch.logsumexp(logc, dim=1), is_numpy, dtype)

    def responsibilities(self, x, alpha=1.0, sigma=0.0):
        """Posterior component probabilities given the noised point, shape (n, K)."""
        logc, _, is_numpy, dtype = self._components(x, alpha, sigma)
        return self._out(torch.softmax(logc, dim=1), is_numpy, dtype)

    def score(self, x, alpha=1.0, sigma=0.0):
        """Exact score ``grad_x log p(x)`` of ``alpha X + sigma Z``, shape (n, d)."""
        logc, scores, is_numpy, dtype = self._components(x, alpha, sigma)
        resp = torch.softmax(logc, dim=1)
        return self._out((resp[..., None] * scores).sum(1), is_numpy, dtype)

    def shifted(self, delta) -> "GaussianMixture":
        """The mixture translated by ``delta`` (d,)."""
        delta = np.asarray(delta, dtype=float)
        if delta.shape != (self.dim,):
            raise ValueError(f"delta must have shape ({self.dim},), got {delta.shape}")
        return GaussianMixture(self.weights, self.means + delta, self.covs)

    def nearest_mode(self, x) -> np.ndarray:
        """Index of the closest component mean (Euclidean) for each point, shape (n,)."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}), got {x.shape}")
        return ((x[:, None, :] - self.means[None]) ** 2).sum(-1).argmin(1)


def ring_mixture(n_modes: int = 8, radius: float = 2.0, std: float = 0.1) -> GaussianMixture:
    """``n_modes`` equal-weight isotropic Gaussians evenly spaced on a circle, the first at angle 0."""
    n_modes = positive_int("n_modes", n_modes)
    radius = positive_float("radius", radius)
    angles = 2.0 * np.pi * np.arange(n_modes) / n_modes
    return GaussianMixture.isotropic(radius * np.stack([np.cos(angles), np.sin(angles)], axis=1), std)


class Checkerboard:
    """Uniform density on the black squares of an ``n_squares x n_squares`` board over
    ``[-half_width, half_width]^2``; square ``(i, j)`` (column, row from the lower-left corner) is
    black when ``i + j`` is even."""

    dim = 2

    def __init__(self, n_squares: int = 4, half_width: float = 2.0):
        self.n_squares = positive_int("n_squares", n_squares)
        self.half_width = positive_float("half_width", half_width)
        self.side = 2.0 * self.half_width / self.n_squares
        i, j = np.meshgrid(np.arange(self.n_squares), np.arange(self.n_squares), indexing="ij")
        self.black = np.stack([i.ravel(), j.ravel()], axis=1)[((i + j) % 2 == 0).ravel()]  # (n_black, 2)
        self.log_density = -math.log(len(self.black) * self.side ** 2)

    def __repr__(self) -> str:
        return f"Checkerboard(n_squares={self.n_squares}, half_width={self.half_width})"

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` uniform draws from the black squares, shape (n, 2)."""
        n = positive_int("n", n)
        cells = self.black[rng.integers(len(self.black), size=n)]
        return -self.half_width + (cells + rng.random((n, 2))) * self.side

    def logpdf(self, x) -> np.ndarray:
        """Exact log-density, shape (n,): ``-log(black area)`` on the support, ``-inf`` off it."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"points must have shape (n, 2), got {x.shape}")
        cell = np.floor((x + self.half_width) / self.side).astype(int)
        inside = np.all((cell >= 0) & (cell < self.n_squares), axis=1) & (cell.sum(1) % 2 == 0)
        return np.where(inside, self.log_density, -np.inf)
