import numpy as np
import pytest
from sklearn.datasets import load_digits

from shared.digits import digits_classifier, digits_dataset, digits_fid


def test_dataset_scales_splits_and_subsets():
    raw = load_digits()
    x, y = digits_dataset()
    assert x.shape == (1797, 64) and np.array_equal(y, raw.target)
    np.testing.assert_allclose(x, raw.data / 8 - 1)
    assert x.min() == -1 and x.max() == 1
    xu, _ = digits_dataset(scale="unit")
    assert xu.min() == 0 and xu.max() == 1
    xb, _ = digits_dataset(scale="binary")
    assert set(np.unique(xb)) == {0.0, 1.0}
    tr, ytr = digits_dataset(split="train", seed=1)
    te, yte = digits_dataset(split="test", seed=1)
    assert len(tr) + len(te) == 1797 and len(te) == pytest.approx(0.25 * 1797, abs=1)
    # disjoint and stratified
    rows = {r.tobytes() for r in tr}
    assert sum(r.tobytes() in rows for r in te) <= 5  # load_digits holds a few duplicate images
    assert np.all(np.abs(np.bincount(yte) / len(yte) - np.bincount(raw.target) / 1797) < 0.01)
    xs, ys = digits_dataset(classes=[0, 1, 2, 3, 4], split="train")
    assert set(ys) == {0, 1, 2, 3, 4} and np.all(np.isin(ys, ytr))
    np.testing.assert_array_equal(digits_dataset(split="test", seed=1)[0], te)


def test_bad_arguments_name_the_valid_choices():
    with pytest.raises(ValueError, match="pm1, unit, binary"):
        digits_dataset(scale="bytes")
    with pytest.raises(ValueError, match="split"):
        digits_dataset(split="valid")
    with pytest.raises(ValueError, match="0..9"):
        digits_dataset(classes=[3, 12])
    with pytest.raises(ValueError, match="shape"):
        digits_classifier(0).features(np.zeros((2, 10)))


def test_classifier_is_accurate_cached_and_gives_features():
    clf = digits_classifier(0)
    assert clf is digits_classifier(0)
    assert clf.test_accuracy > 0.93
    x, y = digits_dataset(split="test")
    assert np.mean(clf.predict(x) == y) == pytest.approx(clf.test_accuracy)
    np.testing.assert_allclose(clf.predict_proba(x).sum(1), 1.0)
    assert clf.features(x).shape == (len(x), 64)


def test_digits_fid_ranks_corruptions():
    x_tr, _ = digits_dataset(split="train")
    x_te, y_te = digits_dataset(split="test")
    rng = np.random.default_rng(0)
    same = digits_fid(x_te, x_tr)
    noisy = digits_fid(np.clip(x_te + 0.5 * rng.standard_normal(x_te.shape), -1, 1), x_tr)
    one_class = digits_fid(x_te[y_te == 3], x_tr)
    assert same < noisy and same < one_class
    assert digits_fid(x_te, x_te) == pytest.approx(0.0, abs=1e-6)
