"""Clustering: synthetic mixtures, K-means and EM (thin scikit-learn wrappers), SDP K-means.

Conventions: data ``X`` is an array of shape ``(n, p)`` (``n`` points in ``p``
dimensions); a clustering is an integer array of shape ``(n,)`` with labels
``0 .. K-1``. Compare clusterings with :mod:`shared.metrics`.

- :func:`make_heterogeneous_gmm` draws a Gaussian mixture whose clusters have different
  covariance matrices (designs listed in :data:`DESIGNS`).
- :func:`kmeans` and :func:`gmm_em` call :class:`sklearn.cluster.KMeans` and
  :class:`sklearn.mixture.GaussianMixture`.
- :func:`sdp_kmeans` solves the Peng-Wei semidefinite relaxation of K-means with cvxpy
  and rounds its solution to a clustering. The cvxpy problem is built once per
  ``(n, K)`` with a :class:`cvxpy.Parameter` for the data, so repeated solves at one
  size skip the compilation.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["DESIGNS", "design_params", "make_heterogeneous_gmm", "kmeans", "gmm_em",
           "sdp_kmeans", "solve_membership_sdp", "round_membership"]

#: Mixture designs of :func:`make_heterogeneous_gmm`, with the number of clusters each has.
DESIGNS = {
    "spherical": 2,     # N(-d/2 e1, I) and N(+d/2 e1, I): the K-means model
    "two_shapes": 2,    # N(-d/2 e1, I) and N(+d/2 e1, diag(0.25, 9, 1, ..., 1))
    "three_shapes": 3,  # spherical, elongated and small clusters on a triangle of side d
}


def _check_X(X, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"{name} must have shape (n, p), got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} must hold only finite numbers")
    return X


def _check_k(n_clusters, n: int) -> int:
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)):
        raise ValueError(f"n_clusters must be an integer, got {n_clusters!r}")
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be between 1 and n={n}, got {n_clusters}")
    return int(n_clusters)


def design_params(design: str, p: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Means and covariances of one mixture design.

    Parameters
    ----------
    design : str
        A key of :data:`DESIGNS`.
    p : int
        Dimension, at least 2.
    delta : float
        Separation: distance between the cluster means (same units as the data).

    Returns
    -------
    means : array (K, p)
    covs : array (K, p, p), diagonal
    """
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; valid: {', '.join(DESIGNS)}")
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 2:
        raise ValueError(f"p must be an integer >= 2, got {p!r}")
    if not np.isfinite(delta) or delta < 0:
        raise ValueError(f"delta must be a finite number >= 0, got {delta!r}")
    K = DESIGNS[design]
    means = np.zeros((K, p))
    variances = np.ones((K, p))
    if design in ("spherical", "two_shapes"):
        means[0, 0], means[1, 0] = -delta / 2, delta / 2
        if design == "two_shapes":
            variances[1, :2] = (0.25, 9.0)
    else:  # three_shapes: equilateral triangle of side delta in the (e1, e2) plane
        means[1, 0] = delta
        means[2, :2] = (delta / 2, delta * np.sqrt(3) / 2)
        variances[1, :2] = (0.25, 9.0)   # elongated across the line to the first mean
        variances[2, :] = 0.25           # small and round
    covs = np.stack([np.diag(v) for v in variances])
    return means, covs


def make_heterogeneous_gmm(rng: np.random.Generator, n: int, p: int, delta: float,
                           design: str = "two_shapes") -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points from a Gaussian mixture whose clusters differ in shape.

    The clusters have (as near as possible) equal sizes, ``n // K`` or ``n // K + 1``
    points; the points are returned in random order.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
        Number of points, at least the number of clusters ``K`` of the design.
    p : int
        Dimension, at least 2.
    delta : float
        Distance between cluster means.
    design : str
        ``"spherical"`` (K=2, both covariances I), ``"two_shapes"`` (K=2, covariances I
        and diag(0.25, 9, 1, ..., 1)) or ``"three_shapes"`` (K=3: I, diag(0.25, 9, 1, ...),
        0.25 I). See :func:`design_params`.

    Returns
    -------
    X : array (n, p)
    labels : int array (n,), values 0 .. K-1
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    means, covs = design_params(design, p, delta)
    K = means.shape[0]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < K:
        raise ValueError(f"n must be an integer >= {K} (the number of clusters), got {n!r}")
    sizes = np.full(K, n // K) + (np.arange(K) < n % K)
    labels = np.repeat(np.arange(K), sizes)
    sd = np.sqrt(np.stack([np.diag(c) for c in covs]))  # (K, p); covariances are diagonal
    X = means[labels] + rng.standard_normal((n, p)) * sd[labels]
    order = rng.permutation(n)
    return X[order], labels[order]


def kmeans(X, n_clusters: int, *, n_init: int = 10, random_state=None) -> np.ndarray:
    """Lloyd's K-means (k-means++ starts) via :class:`sklearn.cluster.KMeans`.

    Parameters
    ----------
    X : array (n, p)
    n_clusters : int
    n_init : int
        Number of starts; the best (lowest within-cluster sum of squares) is kept.
    random_state : int, Generator-free seed or None

    Returns
    -------
    labels : int array (n,)
    """
    from sklearn.cluster import KMeans

    X = _check_X(X)
    n_clusters = _check_k(n_clusters, X.shape[0])
    if n_init < 1:
        raise ValueError(f"n_init must be >= 1, got {n_init}")
    model = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=random_state)
    return model.fit_predict(X).astype(np.int64)


_EM_INITS = ("kmeans", "k-means++", "random", "random_from_data")
_EM_COVS = ("full", "diag", "tied", "spherical")


def gmm_em(X, n_clusters: int, *, covariance_type: str = "full", init: str = "kmeans",
           n_init: int = 1, reg_covar: float = 1e-6, max_iter: int = 200,
           random_state=None) -> np.ndarray:
    """EM for a Gaussian mixture via :class:`sklearn.mixture.GaussianMixture`.

    Parameters
    ----------
    X : array (n, p)
    n_clusters : int
    covariance_type : {"full", "diag", "tied", "spherical"}
        Shape of each cluster's covariance matrix.
    init : {"kmeans", "k-means++", "random", "random_from_data"}
        How responsibilities are started (scikit-learn's ``init_params``): ``"random"``
        draws random responsibilities, ``"random_from_data"`` picks random points as means.
    n_init : int
        Number of starts; the one with the highest likelihood is kept.
    reg_covar : float
        Added to the diagonal of each covariance estimate (variance units).
    max_iter : int
    random_state : int or None

    Returns
    -------
    labels : int array (n,)
        Each point's most probable cluster under the fitted mixture.
    """
    from sklearn.mixture import GaussianMixture

    X = _check_X(X)
    n_clusters = _check_k(n_clusters, X.shape[0])
    if covariance_type not in _EM_COVS:
        raise ValueError(f"unknown covariance_type {covariance_type!r}; valid: {', '.join(_EM_COVS)}")
    if init not in _EM_INITS:
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(_EM_INITS)}")
    if n_init < 1:
        raise ValueError(f"n_init must be >= 1, got {n_init}")
    if reg_covar < 0:
        raise ValueError(f"reg_covar must be >= 0, got {reg_covar}")
    model = GaussianMixture(n_components=n_clusters, covariance_type=covariance_type,
                            init_params=init, n_init=n_init, reg_covar=reg_covar,
                            max_iter=max_iter, random_state=random_state)
    return model.fit(X).predict(X).astype(np.int64)


# --- SDP K-means (Peng & Wei 2007) ----------------------------------------------------------

@lru_cache(maxsize=8)
def _peng_wei_problem(n: int, n_clusters: int):
    """The cvxpy problem max <A, Z> s.t. Z PSD, Z >= 0, Z 1 = 1, tr Z = K, for one (n, K)."""
    import cvxpy as cp

    A = cp.Parameter((n, n), symmetric=True, name="affinity")
    Z = cp.Variable((n, n), PSD=True, name="Z")
    ones = np.ones(n)
    constraints = [Z >= 0, Z @ ones == ones, cp.trace(Z) == n_clusters]
    problem = cp.Problem(cp.Maximize(cp.sum(cp.multiply(A, Z))), constraints)
    return problem, A, Z


def round_membership(Z, n_clusters: int, *, random_state: int = 0) -> np.ndarray:
    """Round a relaxed membership matrix to a clustering.

    For a partition, ``Z = sum_k 1_{G_k} 1_{G_k}^T / |G_k|`` has rank ``K`` and its
    rows are constant within a cluster; a relaxed ``Z`` is close to that. We embed the
    points with the top-``K`` eigenvectors of ``Z`` (scaled by the square roots of their
    eigenvalues) and run K-means on the embedding.

    Parameters
    ----------
    Z : array (n, n), symmetric
    n_clusters : int
    random_state : int
        Seed of the K-means step (fixed, so rounding is deterministic).

    Returns
    -------
    labels : int array (n,)
    """
    Z = _check_X(Z, "Z")
    if Z.shape[0] != Z.shape[1]:
        raise ValueError(f"Z must be square, got shape {Z.shape}")
    n_clusters = _check_k(n_clusters, Z.shape[0])
    vals, vecs = np.linalg.eigh((Z + Z.T) / 2)
    top = np.argsort(vals)[::-1][:n_clusters]
    embedding = vecs[:, top] * np.sqrt(np.clip(vals[top], 0, None))
    return kmeans(embedding, n_clusters, n_init=10, random_state=random_state)


def sdp_kmeans(X, n_clusters: int, *, solver: str = "SCS", eps: float = 1e-4,
               max_iters: int = 20000, return_Z: bool = False, **solver_options):
    """Peng-Wei SDP relaxation of K-means, solved with cvxpy, then rounded.

    Solves ``max <X X^T, Z>`` over ``Z`` (n x n) with ``Z`` positive semidefinite,
    ``Z >= 0`` entrywise, ``Z 1 = 1`` and ``trace Z = K``; a partition into ``K``
    clusters ``G_k`` is feasible as ``Z = sum_k 1_{G_k} 1_{G_k}^T / |G_k|``, and for it the
    objective equals the total sum of squares minus the K-means loss. The data are
    centred first (this leaves the problem unchanged on the feasible set, since
    ``Z 1 = 1``, and helps the solver). The solution is rounded by
    :func:`round_membership`.

    Parameters
    ----------
    X : array (n, p)
    n_clusters : int
    solver : str
        A cvxpy solver that handles PSD cones (``"SCS"`` or ``"CLARABEL"``).
    eps : float
        Solver tolerance (SCS: ``eps_abs = eps_rel = eps``; Clarabel: gap tolerances).
    max_iters : int
        SCS iteration cap (ignored by Clarabel).
    return_Z : bool
        Also return the relaxed solution.
    **solver_options
        Passed on to ``problem.solve``.

    Returns
    -------
    labels : int array (n,)
    Z : array (n, n), only when ``return_Z``
    """
    X = _check_X(X)
    n = X.shape[0]
    n_clusters = _check_k(n_clusters, n)
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    Xc = X - X.mean(axis=0)
    gram = Xc @ Xc.T
    scale = np.abs(gram).max() or 1.0   # a well-scaled objective converges faster
    Zval = solve_membership_sdp(gram / scale, n_clusters, solver=solver, eps=eps,
                                max_iters=max_iters, **solver_options)
    labels = round_membership(Zval, n_clusters)
    return (labels, Zval) if return_Z else labels


def solve_membership_sdp(A, n_clusters: int, *, solver: str = "SCS", eps: float = 1e-4,
                         max_iters: int = 20000, **solver_options) -> np.ndarray:
    """Solve the Peng-Wei SDP ``max <A, Z>`` for a given symmetric affinity ``A`` (n, n).

    Used by :func:`sdp_kmeans` (``A = X X^T``) and by variants that change only the
    affinity (e.g. a Mahalanobis Gram matrix). Options as in :func:`sdp_kmeans`; the
    solver starts cold, so the result does not depend on earlier solves.

    Returns
    -------
    Z : array (n, n)
    """
    import cvxpy as cp

    A = _check_X(A, "A")
    n = A.shape[0]
    if A.shape != (n, n):
        raise ValueError(f"A must be square, got shape {A.shape}")
    n_clusters = _check_k(n_clusters, n)
    problem, A_par, Z = _peng_wei_problem(n, n_clusters)
    A_par.value = (A + A.T) / 2
    # cvxpy warm-starts from the cached problem's last solution by default; a cold start
    # keeps each solve independent of earlier calls (same input, same output).
    opts = {"warm_start": False, **solver_options}
    if solver.upper() == "SCS":
        opts = {"eps_abs": eps, "eps_rel": eps, "max_iters": max_iters, **opts}
    elif solver.upper() == "CLARABEL":
        opts = {"tol_gap_abs": eps, "tol_gap_rel": eps, "tol_feas": eps, **opts}
    problem.solve(solver=solver, **opts)
    if Z.value is None or problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"SDP K-means: solver {solver} ended with status {problem.status}")
    return np.array(Z.value)
