"""Tests of shared.metrics: Hungarian matching and the misclustering error."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.metrics import hungarian_match, misclustering_error

# Pairs of labelings of the same points, with up to 4 labels each (small enough to brute-force).
labelings = st.integers(1, 30).flatmap(
    lambda n: st.tuples(st.lists(st.integers(0, 3), min_size=n, max_size=n),
                        st.lists(st.integers(0, 3), min_size=n, max_size=n)))


def brute_force_error(true, pred) -> float:
    """min over one-to-one maps from predicted to true labels of the error rate."""
    t_labels, t_idx = np.unique(true, return_inverse=True)
    p_labels, p_idx = np.unique(pred, return_inverse=True)
    # Targets are the true labels plus one dummy per predicted label (index >= len(t_labels)),
    # so every predicted label gets a distinct partner and a dummy partner is always wrong.
    targets = range(len(t_labels) + len(p_labels))
    return float(min(np.mean(np.asarray(image)[p_idx] != t_idx)
                     for image in itertools.permutations(targets, len(p_labels))))


@settings(max_examples=60, deadline=None)
@given(labelings)
def test_error_matches_brute_force(pair):
    true, pred = pair
    assert misclustering_error(true, pred) == pytest.approx(brute_force_error(true, pred))


@settings(max_examples=50, deadline=None)
@given(labelings)
def test_hungarian_mapping_attains_the_error(pair):
    true, pred = map(np.asarray, pair)
    mapping = hungarian_match(true, pred)
    # one-to-one, from predicted labels to true labels
    assert len(set(mapping.values())) == len(mapping)
    assert set(mapping) <= set(pred.tolist()) and set(mapping.values()) <= set(true.tolist())
    agree = np.mean([mapping.get(b, None) == a for a, b in zip(true.tolist(), pred.tolist())])
    assert 1 - agree == pytest.approx(misclustering_error(true, pred))


@settings(max_examples=50, deadline=None)
@given(labelings, st.permutations([0, 1, 2, 3]))
def test_error_invariant_under_relabelling(pair, perm):
    true, pred = map(np.asarray, pair)
    renamed = np.asarray(perm)[pred]
    assert misclustering_error(true, renamed) == pytest.approx(misclustering_error(true, pred))
    assert misclustering_error(renamed, true) == pytest.approx(misclustering_error(pred, true))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=40), st.permutations(list("abcdef")))
def test_identical_partitions_have_zero_error(labels, names):
    labels = np.asarray(labels)
    assert misclustering_error(labels, labels) == 0.0
    assert misclustering_error(labels, np.asarray(names)[labels]) == 0.0


@settings(max_examples=50, deadline=None)
@given(labelings)
def test_error_bounds_and_symmetry_for_equal_label_counts(pair):
    true, pred = map(np.asarray, pair)
    err = misclustering_error(true, pred)
    k = len(np.unique(true))
    assert 0.0 <= err <= 1 - 1 / max(k, len(np.unique(pred))) + 1e-12
    # min over bijections is symmetric when both use the same number of labels
    if len(np.unique(true)) == len(np.unique(pred)):
        assert err == pytest.approx(misclustering_error(pred, true))


def test_known_values():
    assert misclustering_error([0, 0, 1, 1], [1, 1, 0, 0]) == 0.0
    assert misclustering_error([0, 0, 1, 1], [0, 1, 1, 1]) == 0.25
    assert misclustering_error([0, 0, 0, 0], [0, 1, 2, 3]) == 0.75
    assert hungarian_match([0, 0, 1, 1, 2], ["x", "x", "y", "z", "z"]) == {"x": 0, "y": 1, "z": 2}
    assert hungarian_match(["a", "b", "b"], [2, 2, 1]) == {1: "b", 2: "a"}


@pytest.mark.parametrize("true, pred, match", [
    ([0, 1], [0, 1, 1], "same length"),
    ([[0, 1]], [[0, 1]], "1-D"),
    ([], [], "at least one"),
])
def test_bad_inputs_raise(true, pred, match):
    with pytest.raises(ValueError, match=match):
        misclustering_error(true, pred)
    with pytest.raises(ValueError, match=match):
        hungarian_match(true, pred)
