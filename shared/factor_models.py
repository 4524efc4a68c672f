"""Linear-Gaussian factor models: data with a known loading matrix, the maximum-likelihood fit by EM,
and the posterior of the factors.

Model: ``x = mu + B z + e``, ``z ~ N(0, I_r)``, ``e ~ N(0, diag(psi))``, so ``x ~ N(mu, B B^T + diag(psi))``.
Arrays: X (n, d), B (d, r), psi (d,), mu (d,).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import multivariate_normal

from .validation import positive_int


@dataclass(frozen=True)
class FactorModel:
    """Parameters of ``x = mu + B z + e``; ``loading`` B (d, r), ``noise`` psi (d,), ``mean`` mu (d,)."""
    loading: np.ndarray
    noise: np.ndarray
    mean: np.ndarray

    @property
    def covariance(self) -> np.ndarray:
        return self.loading @ self.loading.T + np.diag(self.noise)

    def loglik(self, X) -> np.ndarray:
        """log p(x) per row (n,), in nats."""
        return multivariate_normal(self.mean, self.covariance).logpdf(np.atleast_2d(X))

    def posterior_mean(self, X) -> np.ndarray:
        """E[z | x] (n, r) = ``(I + B^T Psi^-1 B)^-1 B^T Psi^-1 (x - mu)``."""
        B, psi = self.loading, self.noise
        Bp = B / psi[:, None]
        return np.linalg.solve(np.eye(B.shape[1]) + B.T @ Bp, Bp.T @ (np.atleast_2d(X) - self.mean).T).T

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(X (n, d), Z (n, r)) drawn from the model."""
        n = positive_int("n", n)
        Z = rng.standard_normal((n, self.loading.shape[1]))
        return self.mean + Z @ self.loading.T + rng.standard_normal((n, len(self.noise))) * np.sqrt(self.noise), Z


def random_factor_model(d: int, r: int, rng: np.random.Generator, *, loading_var: float | None = None,
                        noise_range=(0.1, 3.0)) -> FactorModel:
    """B with i.i.d. N(0, loading_var) entries (default 3/d, so each factor's total signal stays fixed
    as d grows), psi_j ~ U(noise_range), zero mean."""
    d, r = positive_int("d", d), positive_int("r", r)
    var = 3.0 / d if loading_var is None else float(loading_var)
    lo, hi = noise_range
    if not 0 < lo <= hi:
        raise ValueError(f"noise_range must satisfy 0 < lo <= hi, got {noise_range}")
    return FactorModel(rng.normal(0, np.sqrt(var), (d, r)), rng.uniform(lo, hi, d), np.zeros(d))


def factor_analysis_mle(X, r: int, *, n_iter: int = 200, tol: float = 1e-6, min_noise: float = 1e-6,
                        seed: int = 0) -> tuple[FactorModel, list[float]]:
    """Maximum-likelihood factor analysis of the rows of X (n, d) by EM (Rubin & Thayer 1982); see
    :func:`factor_analysis_from_moments`, which it calls with the sample mean and (1/n) covariance."""
    X = np.asarray(X, float)
    if X.ndim != 2:
        raise ValueError(f"X must be (n, d), got shape {X.shape}")
    mu = X.mean(0)
    Xc = X - mu
    return factor_analysis_from_moments(mu, Xc.T @ Xc / len(X), r, n_iter=n_iter, tol=tol, min_noise=min_noise,
                                        seed=seed)


def factor_analysis_from_moments(mean, cov, r: int, *, n_iter: int = 200, tol: float = 1e-6,
                                 min_noise: float = 1e-6, seed: int = 0) -> tuple[FactorModel, list[float]]:
    """Maximum-likelihood factor analysis by EM from the data's sufficient statistics: the sample mean
    (d,) and the (1/n) sample covariance S (d, d). The Gaussian likelihood sees the data only through
    them, so the fit costs nothing more as n grows.

    Starts from the top-r principal directions (scaled), iterates E-step (posterior moments of z) and
    M-step (B, psi in closed form) until the mean log-likelihood
    ``-1/2 (d log 2 pi + log|C| + tr(C^-1 S))`` gains less than ``tol``. Returns the fitted model and
    the mean log-likelihood after every iteration (non-decreasing: an EM property).
    """
    mu = np.asarray(mean, float)
    S = np.asarray(cov, float)
    d = len(mu)
    if mu.ndim != 1 or S.shape != (d, d):
        raise ValueError(f"mean must be (d,) and cov (d, d), got shapes {mu.shape} and {S.shape}")
    r = positive_int("r", r)
    if r >= d:
        raise ValueError(f"r must be smaller than d = {d}, got {r}")
    evals, evecs = np.linalg.eigh(S)
    jitter = np.random.default_rng(seed).normal(0, 1e-3, (d, r))
    B = evecs[:, ::-1][:, :r] * np.sqrt(np.maximum(evals[::-1][:r], 1e-6)) + jitter
    psi = np.maximum(np.diag(S) - (B ** 2).sum(1), min_noise)
    history = []
    for _ in range(positive_int("n_iter", n_iter)):
        Bp = B / psi[:, None]
        G = np.linalg.inv(np.eye(r) + B.T @ Bp)  # posterior covariance of z
        beta = G @ Bp.T  # E[z|x] = beta (x - mu)
        SB = S @ beta.T  # (d, r) = E[x z^T] averaged
        Ezz = G + beta @ SB
        B = np.linalg.solve(Ezz, SB.T).T
        psi = np.maximum(np.diag(S) - (B * SB).sum(1), min_noise)
        model = FactorModel(B, psi, mu)
        C = model.covariance
        history.append(float(-0.5 * (d * np.log(2 * np.pi) + np.linalg.slogdet(C)[1]
                                     + np.trace(np.linalg.solve(C, S)))))
        if len(history) > 1 and history[-1] - history[-2] < tol:
            break
    return model, history
