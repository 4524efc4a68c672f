"""Small statistics used by claim checks: rank correlation and power-law fits.

Both are available inside a ledger check expression (``spearman(x, y) < -0.8``,
``fit_power_law(ns, losses)['slope'] <= -0.3``), so a notebook passes raw sequences
to the ledger and the card's check computes the statistic itself.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats as _scipy_stats


def _paired(x: Sequence[float], y: Sequence[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{name}: x and y must have the same length, got {x.size} and {y.size}")
    if x.size < 3:
        raise ValueError(f"{name}: need at least 3 points, got {x.size}")
    return x, y


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation of two equal-length sequences (scipy.stats.spearmanr).

    A constant sequence has no ranking: that raises ValueError, so a ledger check on it
    is reported inconclusive rather than passing or failing by accident.
    """
    x, y = _paired(x, y, "spearman")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        raise ValueError("spearman: a constant sequence has no rank correlation")
    return float(_scipy_stats.spearmanr(x, y).statistic)


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Least-squares fit of ``log y = intercept + slope * log x``.

    x, y: positive sequences of equal length (>= 3). Returns ``slope``, ``intercept``
    (natural log), ``slope_se`` (standard error of the slope) and ``r2``.
    """
    x, y = _paired(x, y, "fit_power_law")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("fit_power_law: x and y must be positive (the fit is on log-log axes)")
    fit = _scipy_stats.linregress(np.log(x), np.log(y))
    return {"slope": float(fit.slope), "intercept": float(fit.intercept),
            "slope_se": float(fit.stderr), "r2": float(fit.rvalue ** 2)}


def interval_coverage(lower: Sequence[float], upper: Sequence[float], truth) -> float:
    """Fraction of intervals ``[lower_i, upper_i]`` that contain the truth.

    lower, upper : (n,) interval ends (lower <= upper); truth : scalar or (n,) true values.
    A calibrated 68% interval procedure gives a coverage near 0.68 over repeated data.
    """
    lo = np.asarray(lower, dtype=float).ravel()
    hi = np.asarray(upper, dtype=float).ravel()
    if lo.shape != hi.shape or lo.size == 0:
        raise ValueError(f"interval_coverage: lower and upper must be non-empty and equal length, "
                         f"got {lo.size} and {hi.size}")
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo > hi):
        raise ValueError("interval_coverage: need lower <= upper and no NaN")
    t = np.broadcast_to(np.asarray(truth, dtype=float), lo.shape)
    return float(np.mean((lo <= t) & (t <= hi)))


def tv_distance(p: Sequence[float], q: Sequence[float]) -> float:
    """Total-variation distance ``0.5 * sum |p - q|`` of two probability vectors (or histograms,
    normalised here) of equal length."""
    p = np.asarray(p, dtype=float).ravel()
    q = np.asarray(q, dtype=float).ravel()
    if p.shape != q.shape or p.size == 0:
        raise ValueError(f"tv_distance: p and q must be non-empty and of equal length, got {p.size} and {q.size}")
    if p.min() < 0 or q.min() < 0 or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("tv_distance: p and q must be non-negative with a positive total")
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())
