"""Closed-form log-densities and scores: multivariate Gaussians and Gaussian mixtures.

All functions take points as an array of shape ``(n, d)`` (or ``(n,)`` for ``d = 1``) and
return one value per point. Tested against ``scipy.stats``.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import logsumexp

LOG_2PI = np.log(2.0 * np.pi)


def _as_points(x, d: int) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim == 1 and d == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"points must have shape (n, {d}), got {np.shape(x)}")
    return x


def gaussian_logpdf(x, mean, cov=None, *, chol=None) -> np.ndarray:
    """log N(x; mean, cov) for each row of ``x``.

    Parameters
    ----------
    x : array (n, d), or (n,) when d == 1
    mean : array (d,)
    cov : array (d, d), symmetric positive definite
    chol : array (d, d), instead of ``cov``: its lower Cholesky factor L (cov = L L^T),
        computed once by the caller when one covariance serves many calls (a sampler)

    Returns
    -------
    array (n,)
    """
    mean = np.atleast_1d(np.asarray(mean, dtype=float))
    d = mean.shape[0]
    if (cov is None) == (chol is None):
        raise ValueError("give exactly one of cov and chol")
    x = _as_points(x, d)
    if chol is None:
        cov = np.asarray(cov, dtype=float).reshape(d, d)
        if not np.allclose(cov, cov.T):
            raise ValueError("cov must be symmetric positive definite")
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise ValueError("cov must be symmetric positive definite") from None
        z = np.linalg.solve(chol, (x - mean).T)  # (d, n) whitened residuals
    else:
        chol = np.asarray(chol, dtype=float)
        if chol.shape != (d, d) or np.any(np.triu(chol, 1)) or np.any(np.diag(chol) <= 0):
            raise ValueError(f"chol must be a ({d}, {d}) lower-triangular Cholesky factor with a positive diagonal")
        z = solve_triangular(chol, (x - mean).T, lower=True)
    logdet = 2.0 * np.log(np.diag(chol)).sum()
    return -0.5 * (d * LOG_2PI + logdet + (z * z).sum(axis=0))


def _check_mixture(weights, means, covs):
    weights = np.asarray(weights, dtype=float)
    means = np.asarray(means, dtype=float)
    if means.ndim == 1:  # scalar components
        means = means[:, None]
    k, d = means.shape
    covs = np.asarray(covs, dtype=float)
    if covs.ndim == 1:  # one variance per 1-D component
        covs = covs[:, None, None]
    covs = covs.reshape(k, d, d)
    if weights.shape != (k,) or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
        raise ValueError(f"weights must be {k} non-negative numbers summing to 1")
    return weights, means, covs


def mixture_logpdf(x, weights, means, covs) -> np.ndarray:
    """log sum_k w_k N(x; m_k, S_k) per point.

    ``means`` has shape (K, d) (or (K,) for 1-D), ``covs`` (K, d, d) (or (K,) variances
    for 1-D). Returns shape (n,).
    """
    weights, means, covs = _check_mixture(weights, means, covs)
    comp = np.stack([gaussian_logpdf(x, m, s) for m, s in zip(means, covs)], axis=1)
    with np.errstate(divide="ignore"):
        return logsumexp(comp + np.log(weights), axis=1)


def mixture_responsibilities(x, weights, means, covs) -> np.ndarray:
    """Posterior component probabilities, shape (n, K)."""
    weights, means, covs = _check_mixture(weights, means, covs)
    comp = np.stack([gaussian_logpdf(x, m, s) for m, s in zip(means, covs)], axis=1)
    with np.errstate(divide="ignore"):
        comp = comp + np.log(weights)
    return np.exp(comp - logsumexp(comp, axis=1, keepdims=True))


def mixture_score(x, weights, means, covs) -> np.ndarray:
    """Score d/dx log p(x) of a Gaussian mixture, shape (n, d).

    The score is the responsibility-weighted average of the component scores
    ``-S_k^{-1} (x - m_k)``.
    """
    weights, means, covs = _check_mixture(weights, means, covs)
    d = means.shape[1]
    x = _as_points(x, d)
    resp = mixture_responsibilities(x, weights, means, covs)
    comp_scores = np.stack([-np.linalg.solve(s, (x - m).T).T for m, s in zip(means, covs)], axis=1)
    return (resp[:, :, None] * comp_scores).sum(axis=1)


def mixture_sample(rng: np.random.Generator, n: int, weights, means, covs) -> np.ndarray:
    """Draw ``n`` points from the mixture; shape (n, d)."""
    weights, means, covs = _check_mixture(weights, means, covs)
    labels = rng.choice(len(weights), size=n, p=weights)
    chols = np.linalg.cholesky(covs)
    eps = rng.standard_normal((n, means.shape[1]))
    return means[labels] + np.einsum("nij,nj->ni", chols[labels], eps)
