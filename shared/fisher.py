"""Fisher matrices from finite-difference derivatives of a model's mean.

For data ``d ~ N(mu(theta), Sigma)`` with a covariance that does not depend on ``theta``,
the Fisher matrix is ``F = J^T Sigma^{-1} J`` with ``J = d mu / d theta``; the forecast
1-sigma error of parameter i, marginalised over the others, is ``sqrt((F^{-1})_ii)``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy import linalg as _linalg


def finite_diff_jacobian(f: Callable[[np.ndarray], np.ndarray], x0: Sequence[float],
                         steps: Sequence[float], scheme: str = "central", f0=None):
    """Jacobian of a vector function by forward or central differences.

    Parameters
    ----------
    f : callable ``(d,) -> (n,)``
    x0 : (d,) point of evaluation
    steps : (d,) positive step per parameter, in the parameter's units
    scheme : ``"forward"`` (one-sided, d + 1 calls, error O(h)) or ``"central"``
        (two-sided, 2 d calls, error O(h^2))
    f0 : optional ``f(x0)`` already computed (saves a call for ``"forward"``)

    Returns
    -------
    J : ndarray (n, d), ``J[:, i] = d f / d x_i``
    f0 : ndarray (n,), ``f(x0)``
    """
    x0 = np.asarray(x0, dtype=float)
    steps = np.asarray(steps, dtype=float)
    if x0.ndim != 1 or steps.shape != x0.shape:
        raise ValueError(f"x0 and steps must be 1-D of equal length, got {x0.shape}, {steps.shape}")
    if not np.all(np.isfinite(steps)) or np.any(steps <= 0):
        raise ValueError(f"steps must be positive and finite, got {steps}")
    if scheme not in ("forward", "central"):
        raise ValueError(f"scheme must be 'forward' or 'central', got {scheme!r}")

    def call(x):
        y = np.asarray(f(x), dtype=float)
        if y.ndim != 1:
            raise ValueError(f"f must return a 1-D array, got shape {y.shape}")
        return y

    f0 = call(x0) if f0 is None else np.asarray(f0, dtype=float)
    J = np.empty((f0.size, x0.size))
    for i, h in enumerate(steps):
        e = np.zeros_like(x0)
        e[i] = h
        if scheme == "forward":
            J[:, i] = (call(x0 + e) - f0) / h
        else:
            J[:, i] = (call(x0 + e) - call(x0 - e)) / (2 * h)
    return J, f0


def fisher_matrix(jacobian, covariance) -> np.ndarray:
    """``F = J^T Sigma^{-1} J`` for a Gaussian likelihood with a fixed covariance.

    jacobian : (n, d); covariance : (n, n) symmetric positive definite, or (n,) its diagonal.
    Returns (d, d), symmetric.
    """
    J = np.asarray(jacobian, dtype=float)
    C = np.asarray(covariance, dtype=float)
    if J.ndim != 2:
        raise ValueError(f"jacobian must be (n, d), got {J.shape}")
    n = J.shape[0]
    if C.shape == (n,):
        if np.any(C <= 0):
            raise ValueError("a diagonal covariance must be positive")
        F = J.T @ (J / C[:, None])
    elif C.shape == (n, n):
        try:
            cho = _linalg.cho_factor(C, lower=True)
        except _linalg.LinAlgError:
            raise ValueError("covariance is not positive definite") from None
        F = J.T @ _linalg.cho_solve(cho, J)
    else:
        raise ValueError(f"covariance must be ({n}, {n}) or ({n},), got {C.shape}")
    return 0.5 * (F + F.T)


def marginal_errors(fisher) -> np.ndarray:
    """Marginalised 1-sigma forecasts ``sqrt(diag(F^{-1}))``; (d, d) -> (d,)."""
    F = np.asarray(fisher, dtype=float)
    if F.ndim != 2 or F.shape[0] != F.shape[1]:
        raise ValueError(f"fisher must be square, got {F.shape}")
    cov = np.linalg.inv(F)
    if np.any(np.diag(cov) <= 0):
        raise ValueError("fisher matrix is not positive definite (a parameter is unconstrained)")
    return np.sqrt(np.diag(cov))


def derived_error(fisher, gradient) -> float:
    """1-sigma forecast of a derived quantity ``g(theta)`` by linear propagation,
    ``sqrt(grad^T F^{-1} grad)``; fisher (d, d), gradient (d,)."""
    F = np.asarray(fisher, dtype=float)
    g = np.asarray(gradient, dtype=float)
    if g.shape != (F.shape[0],):
        raise ValueError(f"gradient must have shape ({F.shape[0]},), got {g.shape}")
    return float(np.sqrt(g @ np.linalg.solve(F, g)))
