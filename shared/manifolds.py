"""Samplers of points on low-dimensional manifolds embedded in a higher-dimensional space: a circle
with a non-uniform angle law, a flat torus and a spiral, each with its intrinsic coordinates, and a
random orthogonal embedding into R^D.

All samplers draw from a caller's ``numpy.random.Generator`` and return ``(points, coords)``.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from .validation import non_negative_float, positive_float, positive_int


def random_orthogonal_embedding(d: int, D: int, rng: np.random.Generator) -> np.ndarray:
    """A (D, d) matrix with orthonormal columns (Haar-random), mapping R^d isometrically into R^D."""
    d, D = positive_int("d", d), positive_int("D", D)
    if d > D:
        raise ValueError(f"cannot embed dimension {d} isometrically into {D}")
    q, r = np.linalg.qr(rng.standard_normal((D, d)))
    return q * np.sign(np.diag(r))  # sign fix makes the law Haar


def von_mises_mixture_angles(n: int, rng: np.random.Generator, *, means=(0.0, 2.2), kappa: float = 4.0,
                             weights=None) -> np.ndarray:
    """``n`` angles in [-pi, pi) from an equal- (or ``weights``-) weight mixture of von Mises laws."""
    n = positive_int("n", n)
    means = np.atleast_1d(np.asarray(means, dtype=float))
    kappa = positive_float("kappa", kappa)
    w = np.full(len(means), 1.0 / len(means)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != means.shape or np.any(w < 0) or not np.isclose(w.sum(), 1.0):
        raise ValueError(f"weights must be {len(means)} non-negative numbers summing to 1")
    comp = rng.choice(len(means), size=n, p=w)
    theta = stats.vonmises.rvs(kappa, loc=means[comp], random_state=rng)
    return np.mod(theta + np.pi, 2 * np.pi) - np.pi


def von_mises_mixture_logpdf(theta, *, means=(0.0, 2.2), kappa: float = 4.0, weights=None) -> np.ndarray:
    """Log-density (per radian) of :func:`von_mises_mixture_angles`' law."""
    means = np.atleast_1d(np.asarray(means, dtype=float))
    w = np.full(len(means), 1.0 / len(means)) if weights is None else np.asarray(weights, dtype=float)
    theta = np.asarray(theta, dtype=float)
    dens = sum(wk * stats.vonmises.pdf(theta, kappa, loc=m) for wk, m in zip(w, means))
    return np.log(dens)


def circle(n: int, rng: np.random.Generator, *, radius: float = 1.0, embedding=None, **angle_law):
    """Points on a circle of ``radius`` with angles from :func:`von_mises_mixture_angles` (``angle_law``
    forwards its keywords); with ``embedding`` (D, 2) the points are mapped into R^D.
    Returns ``(points (n, 2 or D), angles (n,))``."""
    theta = von_mises_mixture_angles(n, rng, **angle_law)
    pts = positive_float("radius", radius) * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    return (pts if embedding is None else pts @ np.asarray(embedding, dtype=float).T), theta


def flat_torus(n: int, rng: np.random.Generator, *, radii=(1.0, 1.0), embedding=None):
    """Uniform points on the flat torus S^1 x S^1 in R^4 (radii r1, r2), optionally embedded by a (D, 4)
    matrix. Returns ``(points (n, 4 or D), angles (n, 2))``."""
    n = positive_int("n", n)
    r1, r2 = (positive_float("radius", r) for r in radii)
    ang = rng.uniform(-np.pi, np.pi, size=(n, 2))
    pts = np.stack([r1 * np.cos(ang[:, 0]), r1 * np.sin(ang[:, 0]), r2 * np.cos(ang[:, 1]), r2 * np.sin(ang[:, 1])], 1)
    return (pts if embedding is None else pts @ np.asarray(embedding, dtype=float).T), ang


def spiral(n: int, rng: np.random.Generator, *, turns: float = 2.0, noise: float = 0.0):
    """Archimedean spiral r = t, t uniform in [0, 2 pi turns] scaled to radius <= 1, plus isotropic
    Gaussian ``noise``. Returns ``(points (n, 2), t (n,))``."""
    n = positive_int("n", n)
    turns, noise = positive_float("turns", turns), non_negative_float("noise", noise)
    t = rng.uniform(0.0, 2 * np.pi * turns, size=n)
    r = t / (2 * np.pi * turns)
    pts = np.stack([r * np.cos(t), r * np.sin(t)], 1) + noise * rng.standard_normal((n, 2))
    return pts, t
