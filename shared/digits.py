"""The 8x8 handwritten digits bundled with scikit-learn (1797 images, no download), a small
classifier on them, and an offline stand-in for FID computed on its features.

- :func:`digits_dataset`: images as (n, 64) rows with class subsets, a fixed stratified
  train/test split and three pixel scalings;
- :func:`digits_classifier`: a one-hidden-layer tanh MLP (scikit-learn) fitted on the training split,
  cached per seed; its hidden activations are the feature map of :func:`digits_fid`;
- :func:`digits_fid`: the Frechet distance between classifier features of two image sets.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from .sample_metrics import frechet_distance

SCALES = ("pm1", "unit", "binary")
SPLITS = (None, "train", "test")
N_PIXELS = 64


def _scale(pixels: np.ndarray, scale: str) -> np.ndarray:
    if scale == "pm1":
        return pixels / 8.0 - 1.0
    if scale == "unit":
        return pixels / 16.0
    return (pixels > 8).astype(float)


def digits_dataset(*, classes=None, split: str | None = None, test_fraction: float = 0.25, scale: str = "pm1",
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images ``X`` (n, 64) and labels ``y`` (n,) of scikit-learn's ``load_digits``.

    Parameters
    ----------
    classes : iterable of int in 0..9, or None for all ten
    split : None (every image), "train" or "test": a split stratified by label, fixed by ``seed``,
        with ``test_fraction`` of the images in "test" (made before the class subset is taken, so a
        subset's train and test never share an image)
    scale : "pm1" (pixel intensities 0..16 mapped to [-1, 1]), "unit" ([0, 1]) or "binary"
        (1 where the intensity exceeds 8)
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; valid: {', '.join(SCALES)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: None, 'train', 'test'")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    data = load_digits()
    pixels, labels = data.data.astype(float), data.target.astype(int)
    if split is not None:
        idx_train, idx_test = train_test_split(np.arange(len(labels)), test_size=float(test_fraction),
                                               stratify=labels, random_state=int(seed))
        keep = np.sort(idx_train if split == "train" else idx_test)
        pixels, labels = pixels[keep], labels[keep]
    if classes is not None:
        classes = np.asarray(list(classes), dtype=int)
        if classes.size == 0 or np.any((classes < 0) | (classes > 9)):
            raise ValueError(f"classes must be a non-empty set of digits 0..9, got {classes.tolist()}")
        mask = np.isin(labels, classes)
        pixels, labels = pixels[mask], labels[mask]
    return _scale(pixels, scale), labels


@dataclass(frozen=True)
class DigitsClassifier:
    """A fitted one-hidden-layer tanh network on "pm1"-scaled digits (see :func:`digits_classifier`)."""

    model: MLPClassifier
    test_accuracy: float

    @staticmethod
    def _check(x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != N_PIXELS:
            raise ValueError(f"digit images must have shape (n, {N_PIXELS}), got {x.shape}")
        return x

    def predict(self, x) -> np.ndarray:
        """Predicted digit per image, shape (n,)."""
        return self.model.predict(self._check(x))

    def predict_proba(self, x) -> np.ndarray:
        """Class probabilities, shape (n, 10)."""
        return self.model.predict_proba(self._check(x))

    def features(self, x) -> np.ndarray:
        """Hidden-layer (tanh) activations, shape (n, hidden width): the feature map of :func:`digits_fid`."""
        x = self._check(x)
        return np.tanh(x @ self.model.coefs_[0] + self.model.intercepts_[0])


@lru_cache(maxsize=4)
def digits_classifier(seed: int = 0, hidden: int = 64) -> DigitsClassifier:
    """A :class:`DigitsClassifier` fitted (Adam, 200 epochs, deterministic for a seed) on the "train" split of
    :func:`digits_dataset` at scale "pm1"; cached, so every notebook call with one seed shares one."""
    x_train, y_train = digits_dataset(split="train", seed=seed)
    x_test, y_test = digits_dataset(split="test", seed=seed)
    model = MLPClassifier(hidden_layer_sizes=(int(hidden),), activation="tanh", solver="adam",
                          learning_rate_init=1e-2, alpha=1e-3, max_iter=200, random_state=int(seed))
    with warnings.catch_warnings():  # 200 epochs reach ~97% test accuracy; convergence to 1e-4 is not needed
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    return DigitsClassifier(model, float(model.score(x_test, y_test)))


def digits_fid(samples, reference, classifier: DigitsClassifier | None = None) -> float:
    """Frechet distance between :meth:`DigitsClassifier.features` of ``samples`` (n, 64) and of
    ``reference`` (m, 64), both at scale "pm1": an offline stand-in for FID. The default classifier
    is ``digits_classifier(0)``."""
    clf = digits_classifier(0) if classifier is None else classifier
    return frechet_distance(clf.features(samples), clf.features(reference))
