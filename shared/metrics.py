"""Metrics that compare two labelings of the same points (clusterings, mixture fits).

Cluster labels are arbitrary names: a clustering that calls cluster "A" what the truth
calls cluster 1 is still right. Both functions here therefore match the predicted labels
to the true ones first, by the assignment that maximises agreement (the Hungarian
algorithm, :func:`scipy.optimize.linear_sum_assignment`), then count.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["contingency", "hungarian_match", "misclustering_error"]


def _as_labels(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {y.shape}")
    if y.size == 0:
        raise ValueError(f"{name} must hold at least one label")
    return y


def _check_pair(true, pred) -> tuple[np.ndarray, np.ndarray]:
    true = _as_labels(true, "true")
    pred = _as_labels(pred, "pred")
    if true.shape != pred.shape:
        raise ValueError(f"true and pred must have the same length, got {true.size} and {pred.size}")
    return true, pred


def contingency(true, pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of points per (true label, predicted label) pair.

    Parameters
    ----------
    true, pred : array-like (n,)
        Two labelings of the same ``n`` points; labels may be any sortable values.

    Returns
    -------
    table : int array (n_true_labels, n_pred_labels)
        ``table[a, b]`` = number of points with true label ``true_labels[a]`` and
        predicted label ``pred_labels[b]``.
    true_labels : array (n_true_labels,)
        The distinct true labels, sorted.
    pred_labels : array (n_pred_labels,)
        The distinct predicted labels, sorted.
    """
    true, pred = _check_pair(true, pred)
    true_labels, ti = np.unique(true, return_inverse=True)
    pred_labels, pi = np.unique(pred, return_inverse=True)
    table = np.zeros((true_labels.size, pred_labels.size), dtype=np.int64)
    np.add.at(table, (ti, pi), 1)
    return table, true_labels, pred_labels


def hungarian_match(true, pred) -> dict:
    """The one-to-one renaming of predicted labels that agrees with ``true`` most often.

    Parameters
    ----------
    true, pred : array-like (n,)
        Two labelings of the same ``n`` points; labels may be any sortable values, and
        the two may use different numbers of labels.

    Returns
    -------
    dict
        ``{predicted label: true label}``. Each true label is used at most once; when
        ``pred`` has more labels than ``true``, the surplus predicted labels (those whose
        points cannot all be matched) are left out.

    Examples
    --------
    >>> hungarian_match([0, 0, 1, 1], ["b", "b", "a", "a"])
    {'a': 1, 'b': 0}
    """
    table, true_labels, pred_labels = contingency(true, pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    pairs = sorted(zip(cols, rows))
    return {pred_labels[c].item(): true_labels[r].item() for c, r in pairs}


def misclustering_error(true, pred) -> float:
    """Fraction of points misclustered, minimised over renamings of the predicted labels.

    ``min over one-to-one maps s of mean(true != s(pred))``; points whose predicted label
    has no partner (more predicted than true labels) count as errors. It is 0 for two
    labelings that induce the same partition and at most ``1 - 1/K`` for ``K`` balanced
    true clusters.

    Parameters
    ----------
    true, pred : array-like (n,)

    Returns
    -------
    float in [0, 1)
    """
    table, _, _ = contingency(true, pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(1.0 - table[rows, cols].sum() / table.sum())
