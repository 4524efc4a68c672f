"""Distances between a sample and a target: kernel MMD, exact W2, mode coverage, histogram KL and
the Frechet distance of features (the formula behind FID).

All functions take numpy arrays of points, shape ``(n, d)``, and return floats (or a dict).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import linalg
from scipy.spatial.distance import cdist

from .validation import non_negative_float, positive_float, positive_int


def _points(x, name: str, d: int | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty array of shape (n, d), got {x.shape}")
    if d is not None and x.shape[1] != d:
        raise ValueError(f"{name} must have {d} columns, got {x.shape[1]}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains non-finite values")
    return x


def mmd_rbf(x, y, bandwidths: Sequence[float] = (0.1, 0.5, 1.0)) -> float:
    """Squared maximum mean discrepancy (biased V-statistic) between samples ``x`` (n, d) and ``y`` (m, d).

    The kernel is the mean over ``bandwidths`` h of ``exp(-|u - v|^2 / (2 h^2))``. The value is >= 0
    and is 0 when the two samples are equal.
    """
    x = _points(x, "x")
    y = _points(y, "y", x.shape[1])
    hs = [positive_float("bandwidth", h) for h in bandwidths]
    if not hs:
        raise ValueError("give at least one bandwidth")
    dxx, dyy, dxy = cdist(x, x, "sqeuclidean"), cdist(y, y, "sqeuclidean"), cdist(x, y, "sqeuclidean")
    total = 0.0
    for h in hs:
        g = 1.0 / (2.0 * h * h)
        total += np.exp(-g * dxx).mean() + np.exp(-g * dyy).mean() - 2.0 * np.exp(-g * dxy).mean()
    return max(float(total / len(hs)), 0.0)


def wasserstein_distance(x, y, p: int = 2) -> float:
    """Exact p-Wasserstein distance between the empirical measures of ``x`` (n, d) and ``y`` (m, d)
    (uniform weights; POT's network-simplex solver on the cost ``|u - v|^p``)."""
    import ot  # POT pulls in much at import time: load it only where it is used

    x = _points(x, "x")
    y = _points(y, "y", x.shape[1])
    p = positive_int("p", p)
    cost = cdist(x, y) ** p
    a, b = np.full(len(x), 1.0 / len(x)), np.full(len(y), 1.0 / len(y))
    return float(max(ot.emd2(a, b, cost, numItermax=10_000_000), 0.0) ** (1.0 / p))


def w2_distance(x, y) -> float:
    """Exact 2-Wasserstein distance between two empirical measures (:func:`wasserstein_distance` with p = 2)."""
    return wasserstein_distance(x, y, 2)


def sliced_wasserstein(x, y, *, n_projections: int = 200, p: int = 1, seed: int = 0) -> float:
    """Sliced p-Wasserstein distance: the p-th root of the mean over ``n_projections`` random unit
    directions of the 1-D W_p^p between the projected samples (POT ``sliced_wasserstein_distance``)."""
    import ot

    x = _points(x, "x")
    y = _points(y, "y", x.shape[1])
    return float(ot.sliced_wasserstein_distance(x, y, n_projections=positive_int("n_projections", n_projections),
                                                p=positive_int("p", p), seed=int(seed)))


def mode_coverage(x, means, *, radius: float, min_frac: float = 0.01) -> dict:
    """How a sample spreads over known modes.

    Each point of ``x`` (n, d) goes to its nearest row of ``means`` (K, d) if it lies within
    ``radius`` of it. Returns ``coverage`` (fraction of modes holding at least ``min_frac`` of all
    points), ``counts`` (K,) and ``off_mode`` (fraction of points farther than ``radius`` from
    every mode).
    """
    x = _points(x, "x")
    means = _points(means, "means", x.shape[1])
    radius = positive_float("radius", radius)
    min_frac = non_negative_float("min_frac", min_frac)
    dist = cdist(x, means)
    nearest = dist.argmin(1)
    near = dist[np.arange(len(x)), nearest] <= radius
    counts = np.bincount(nearest[near], minlength=len(means))
    return {"coverage": float(np.mean(counts / len(x) >= min_frac)), "counts": counts,
            "off_mode": float(1.0 - near.mean())}


def hist_kl_2d(reference, samples, *, bins: int = 60, extent: float = 4.0, smoothing: float = 0.5) -> float:
    """``KL(P_ref || P_samples)`` in nats between the 2-D histograms of two samples.

    Both are binned on a ``bins x bins`` grid over ``[-extent, extent]^2`` plus one overflow cell
    that collects every point outside it (so mass thrown far away still counts), with ``smoothing``
    added to every cell count before normalising, so the KL is finite.
    """
    reference = _points(reference, "reference", 2)
    samples = _points(samples, "samples", 2)
    bins = positive_int("bins", bins)
    extent = positive_float("extent", extent)
    smoothing = positive_float("smoothing", smoothing)
    edges = np.linspace(-extent, extent, bins + 1)

    def counts(x):
        inside = np.histogram2d(x[:, 0], x[:, 1], bins=[edges, edges])[0].ravel()
        return np.append(inside, len(x) - inside.sum()) + smoothing

    p, q = counts(reference), counts(samples)
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * (np.log(p) - np.log(q))))


def frechet_distance(feat_a, feat_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (n, k) and (m, k):
    ``|mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2))``, the formula of FID."""
    feat_a = _points(feat_a, "feat_a")
    feat_b = _points(feat_b, "feat_b", feat_a.shape[1])
    if len(feat_a) < 2 or len(feat_b) < 2:
        raise ValueError("each feature set needs at least two rows to estimate a covariance")
    mu_a, mu_b = feat_a.mean(0), feat_b.mean(0)
    ca, cb = np.atleast_2d(np.cov(feat_a, rowvar=False)), np.atleast_2d(np.cov(feat_b, rowvar=False))
    covmean = linalg.sqrtm(ca @ cb)
    if not np.all(np.isfinite(covmean)):  # singular product: regularise as the FID reference code does
        offset = 1e-6 * np.eye(len(ca))
        covmean = linalg.sqrtm((ca + offset) @ (cb + offset))
    if np.iscomplexobj(covmean):  # round-off can leave a tiny imaginary part
        covmean = covmean.real
    return float(max(np.sum((mu_a - mu_b) ** 2) + np.trace(ca + cb - 2.0 * covmean), 0.0))
