"""Tests of shared.clustering (mixture generator, K-means/EM wrappers, SDP K-means), and
of the ila_sdp paper config that uses them."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from shared.clustering import (DESIGNS, design_params, gmm_em, kmeans, make_heterogeneous_gmm,
                               round_membership, sdp_kmeans, solve_membership_sdp)
from shared.metrics import misclustering_error


def partition_matrix(labels) -> np.ndarray:
    """Z = sum_k 1_{G_k} 1_{G_k}^T / |G_k| for a clustering."""
    labels = np.asarray(labels)
    same = labels[:, None] == labels[None, :]
    return same / same.sum(axis=1, keepdims=True)


# --- generator ------------------------------------------------------------------------------

@pytest.mark.parametrize("design", list(DESIGNS))
def test_generator_shapes_sizes_and_determinism(design):
    K = DESIGNS[design]
    X, y = make_heterogeneous_gmm(np.random.default_rng(3), 31, 4, 2.0, design)
    assert X.shape == (31, 4) and y.shape == (31,) and y.dtype.kind == "i"
    counts = np.bincount(y, minlength=K)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 31
    X2, y2 = make_heterogeneous_gmm(np.random.default_rng(3), 31, 4, 2.0, design)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    X3, _ = make_heterogeneous_gmm(np.random.default_rng(4), 31, 4, 2.0, design)
    assert not np.array_equal(X, X3)


@pytest.mark.parametrize("design", list(DESIGNS))
def test_generator_moments_match_design(design):
    means, covs = design_params(design, 3, 4.0)
    X, y = make_heterogeneous_gmm(np.random.default_rng(0), 6000, 3, 4.0, design)
    for k in range(means.shape[0]):
        Xk = X[y == k]
        se = np.sqrt(np.diag(covs[k]) / len(Xk))
        assert np.all(np.abs(Xk.mean(axis=0) - means[k]) < 5 * se)
        assert np.allclose(np.cov(Xk.T), covs[k], atol=0.15 * covs[k].max())
    # the cluster means are delta apart (nearest pair)
    d = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert np.min(d[np.triu_indices(len(means), 1)]) == pytest.approx(4.0)


def test_design_params_are_the_documented_ones():
    means, covs = design_params("two_shapes", 4, 3.0)
    assert means.tolist() == [[-1.5, 0, 0, 0], [1.5, 0, 0, 0]]
    assert np.diag(covs[0]).tolist() == [1, 1, 1, 1]
    assert np.diag(covs[1]).tolist() == [0.25, 9, 1, 1]
    means, covs = design_params("three_shapes", 3, 2.0)
    assert np.allclose(means, [[0, 0, 0], [2, 0, 0], [1, np.sqrt(3), 0]])
    assert [np.diag(c).tolist() for c in covs] == [[1, 1, 1], [0.25, 9, 1], [0.25, 0.25, 0.25]]


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=1, p=3, delta=1.0, design="two_shapes"), "n must be"),
    (dict(n=10, p=1, delta=1.0, design="two_shapes"), "p must be"),
    (dict(n=10, p=3, delta=-1.0, design="two_shapes"), "delta must be"),
    (dict(n=10, p=3, delta=1.0, design="nope"), "unknown design"),
])
def test_generator_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_heterogeneous_gmm(np.random.default_rng(0), **kwargs)
    with pytest.raises(ValueError, match="Generator"):
        make_heterogeneous_gmm(0, 10, 3, 1.0)


# --- scikit-learn wrappers ------------------------------------------------------------------

def test_kmeans_agrees_with_sklearn():
    X, y = make_heterogeneous_gmm(np.random.default_rng(1), 60, 3, 3.0, "three_shapes")
    ours = kmeans(X, 3, n_init=5, random_state=7)
    ref = KMeans(n_clusters=3, n_init=5, random_state=7).fit_predict(X)
    assert np.array_equal(ours, ref)


@pytest.mark.parametrize("cov, init", [("diag", "random"), ("full", "kmeans"),
                                       ("spherical", "random_from_data")])
def test_gmm_em_agrees_with_sklearn(cov, init):
    X, _ = make_heterogeneous_gmm(np.random.default_rng(2), 80, 3, 3.0, "two_shapes")
    ours = gmm_em(X, 2, covariance_type=cov, init=init, random_state=5)
    ref = GaussianMixture(2, covariance_type=cov, init_params=init, random_state=5,
                          max_iter=200).fit(X).predict(X)
    assert np.array_equal(ours, ref)


def test_wrappers_reject_bad_input():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans(X, 6)
    with pytest.raises(ValueError, match="shape"):
        kmeans(np.zeros(5), 2)
    with pytest.raises(ValueError, match="finite"):
        gmm_em(np.full((5, 2), np.nan), 2)
    with pytest.raises(ValueError, match="covariance_type"):
        gmm_em(X, 2, covariance_type="banded")
    with pytest.raises(ValueError, match="init"):
        gmm_em(X, 2, init="oracle")


# --- SDP K-means ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def separated():
    X, y = make_heterogeneous_gmm(np.random.default_rng(5), 24, 3, 12.0, "spherical")
    return X, y


def test_sdp_kmeans_recovers_separated_clusters_with_feasible_Z(separated):
    X, y = separated
    labels, Z = sdp_kmeans(X, 2, return_Z=True)
    assert misclustering_error(y, labels) == 0.0
    tol = 1e-3
    assert np.allclose(Z, Z.T, atol=tol)
    assert np.linalg.eigvalsh(Z).min() > -tol
    assert Z.min() > -tol
    assert np.allclose(Z.sum(axis=1), 1.0, atol=tol)
    assert np.trace(Z) == pytest.approx(2.0, abs=tol)
    # well separated: the relaxation is tight, Z is the true partition matrix
    assert np.allclose(Z, partition_matrix(y), atol=2e-2)


def test_sdp_relaxation_beats_every_partition(separated):
    X, y = separated
    Xc = X - X.mean(axis=0)
    A = Xc @ Xc.T / np.abs(Xc @ Xc.T).max()
    Z = solve_membership_sdp(A, 2)
    rng = np.random.default_rng(0)
    for labels in [y, rng.integers(0, 2, len(y)), 1 - y]:
        if len(np.unique(labels)) == 2:
            assert np.sum(A * Z) >= np.sum(A * partition_matrix(labels)) - 1e-3


def test_sdp_kmeans_is_deterministic_and_history_free(separated):
    X, y = separated
    _, Z1 = sdp_kmeans(X, 2, return_Z=True)
    other, _ = make_heterogeneous_gmm(np.random.default_rng(9), 24, 3, 1.0, "two_shapes")
    sdp_kmeans(other, 2)  # same size: reuses the compiled problem
    _, Z2 = sdp_kmeans(X, 2, return_Z=True)
    assert np.array_equal(Z1, Z2)


def test_round_membership_recovers_exact_partitions():
    y = np.array([0, 2, 1, 1, 0, 2, 2, 1, 0, 0])
    assert misclustering_error(y, round_membership(partition_matrix(y), 3)) == 0.0


def test_sdp_kmeans_rejects_bad_input():
    with pytest.raises(ValueError, match="n_clusters"):
        sdp_kmeans(np.zeros((4, 2)), 0)
    with pytest.raises(ValueError, match="eps"):
        sdp_kmeans(np.zeros((4, 2)), 2, eps=0)
    with pytest.raises(ValueError, match="square"):
        round_membership(np.zeros((3, 4)), 2)


# --- the ila_sdp paper config ----------------------------------------------------------------

@pytest.mark.parametrize("profile", ["quick", "full", "paper"])
def test_ila_sdp_config_composes(profile):
    from shared.config import load_config

    cfg = load_config("ila_sdp", profile)
    assert cfg.profile == profile and cfg.meta.slug == "ila_sdp" and cfg.meta.fidelity in "ABC"
    assert list(cfg.p_grid) == sorted(cfg.p_grid) and min(cfg.p_grid) >= 2
    assert cfg.design in DESIGNS and cfg.extra.design in DESIGNS
    assert cfg.ila.covariance in ("diag", "full", "auto")
    if profile != "quick":
        quick = load_config("ila_sdp", "quick")
        assert cfg.n >= quick.n and cfg.n_reps >= quick.n_reps and len(cfg.p_grid) > len(quick.p_grid)


def test_ila_sdp_config_overrides():
    from shared.config import ConfigError, load_config

    cfg = load_config("ila_sdp", "quick", {"n_reps": 2, "ila.iters": 1, "p_grid": [3, 5]})
    assert cfg.n_reps == 2 and cfg.ila.iters == 1 and list(cfg.p_grid) == [3, 5]
    with pytest.raises(ConfigError, match="no config key"):
        load_config("ila_sdp", "quick", {"n_rep": 2})
    with pytest.raises(ConfigError, match="must be int"):
        load_config("ila_sdp", "quick", {"n": "forty"})
