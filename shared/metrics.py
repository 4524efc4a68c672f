"""Metrics that compare two labelings of the same points (clusterings, mixture fits).

Cluster labels are arbitrary names: a clustering that calls cluster "A" what the truth
calls cluster 1 is still right. Both functions here therefore match the predicted labels
to the true ones first, by the assignment that maximises agreement (the Hungarian
algorithm, :func:`scipy.optimize.linear_sum_assignment`), then count.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics.cluster import contingency_matrix

__all__ = ["hungarian_match", "misclustering_error"]


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


def _contingency(true, pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's contingency table (rows: sorted true labels, columns: sorted
    predicted labels), with the labels themselves."""
    true, pred = _check_pair(true, pred)
    table = contingency_matrix(true, pred)
    return table, np.unique(true), np.unique(pred)


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
    table, true_labels, pred_labels = _contingency(true, pred)
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
    table, _, _ = _contingency(true, pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(1.0 - table[rows, cols].sum() / table.sum())
