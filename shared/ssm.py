"""Linear-Gaussian state-space models and particle smoothers of additive functionals.

Model (time runs over t = 0..T-1, one observation per step)::

    x_0 ~ N(m0, P0),   x_t = A x_{t-1} + u_t,  u_t ~ N(0, Q),
    y_t = C x_t + v_t,  v_t ~ N(0, R).

Exact inference (:func:`kalman_filter`, :func:`rts_smoother`) gives the log-likelihood
and the smoothed means, covariances and lag-one cross-covariances, hence the exact
smoothed expectation of any quadratic additive functional. The particle methods
(:func:`bootstrap_particle_filter`, :func:`conditional_smc`, :func:`paris_smoother`,
:func:`ppg`) run many independent replicates at once: every array carries a leading
replicate axis of length ``n_replicates``, and the model's parameters may carry it too
(``A`` of shape (R, dx, dx), ...) so that replicates can run at different parameters.
Probabilities are in natural-log units.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np
from scipy import linalg as _sla

LOG_2PI = float(np.log(2 * np.pi))


# -------------------------------------------------------------------------------------
# the model
# -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LGSSM:
    """Parameters of a linear-Gaussian state-space model (build with :func:`lgssm`).

    A: (dx, dx) or (R, dx, dx); C: (dy, dx); Q: (dx, dx) or (R, dx, dx); Rv: (dy, dy);
    m0: (dx,) or (R, dx); P0: (dx, dx) or (R, dx, dx). A leading R means one parameter
    value per replicate (particle methods only; the Kalman recursions take unbatched ones).
    """
    A: np.ndarray
    C: np.ndarray
    Q: np.ndarray
    Rv: np.ndarray
    m0: np.ndarray
    P0: np.ndarray

    @property
    def dim_x(self) -> int:
        return self.A.shape[-1]

    @property
    def dim_y(self) -> int:
        return self.C.shape[0]

    @property
    def batch(self) -> int | None:
        """Number of replicates the parameters are batched over, or None."""
        sizes = {a.shape[0] for a, core in ((self.A, 2), (self.Q, 2), (self.m0, 1), (self.P0, 2))
                 if a.ndim > core}
        return sizes.pop() if sizes else None


def _as_matrix(value, name: str, shape: tuple[int, int] | None = None, batched: bool = True) -> np.ndarray:
    a = np.atleast_1d(np.asarray(value, dtype=float))
    if a.ndim == 1 and a.size == 1:
        a = a.reshape(1, 1)
    if a.ndim not in ((2, 3) if batched else (2,)):
        raise ValueError(f"{name} must be a matrix{' (or a batch of matrices)' if batched else ''}, got shape {a.shape}")
    if shape is not None and a.shape[-2:] != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape[-2:]}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds non-finite values")
    return a


def lgssm(A, C, Q, R, m0=None, P0=None) -> LGSSM:
    """Validated model. Scalars are accepted for the univariate model.

    m0 defaults to 0 and P0 to the stationary covariance (solution of P = A P A' + Q),
    which requires every eigenvalue of A inside the unit circle.
    """
    A = _as_matrix(A, "A")
    dx = A.shape[-1]
    if A.shape[-2] != dx:
        raise ValueError(f"A must be square, got {A.shape}")
    Q = _as_matrix(Q, "Q", (dx, dx))
    C = np.asarray(C, dtype=float)
    C = C.reshape(1, dx) if C.ndim < 2 else C
    C = _as_matrix(C, "C", batched=False)
    if C.shape[1] != dx:
        raise ValueError(f"C must have {dx} columns, got {C.shape}")
    R = _as_matrix(R, "R", (C.shape[0], C.shape[0]), batched=False)
    batch = A.shape[:-2] or Q.shape[:-2]
    if P0 is None:
        if np.any(np.abs(np.linalg.eigvals(A)) >= 1):
            raise ValueError("A has an eigenvalue on or outside the unit circle: no stationary P0, pass P0")
        As = np.broadcast_to(A, batch + (dx, dx)).reshape(-1, dx, dx)
        Qs = np.broadcast_to(Q, batch + (dx, dx)).reshape(-1, dx, dx)
        P0 = np.stack([_sla.solve_discrete_lyapunov(a, q) for a, q in zip(As, Qs)]).reshape(batch + (dx, dx))
    P0 = _as_matrix(P0, "P0", (dx, dx))
    m0 = np.zeros(dx) if m0 is None else np.asarray(m0, dtype=float)
    if m0.shape[-1:] != (dx,) or m0.ndim > 2:
        raise ValueError(f"m0 must have shape ({dx},) or (R, {dx}), got {m0.shape}")
    for name, M in (("Q", Q), ("R", R), ("P0", P0)):
        if np.any(np.linalg.eigvalsh((M + np.swapaxes(M, -1, -2)) / 2) <= 0):
            raise ValueError(f"{name} must be symmetric positive definite")
    model = LGSSM(A, C, Q, R, m0, P0)
    sizes = {a.shape[0] for a, core in ((A, 2), (Q, 2), (m0, 1), (P0, 2)) if a.ndim > core}
    if len(sizes) > 1:
        raise ValueError(f"batched parameters disagree on the number of replicates: {sorted(sizes)}")
    return model


def ar1_lgssm(phi, sigma_u: float, sigma_v: float) -> LGSSM:
    """x_t = phi x_{t-1} + sigma_u u_t, y_t = x_t + sigma_v v_t, stationary x_0.

    phi: scalar, or (R,) for one value per replicate.
    """
    phi = np.asarray(phi, dtype=float)
    if np.any(np.abs(phi) >= 1):
        raise ValueError("|phi| must be < 1 for a stationary start")
    if sigma_u <= 0 or sigma_v <= 0:
        raise ValueError("sigma_u and sigma_v must be positive")
    A = phi.reshape(phi.shape + (1, 1))
    P0 = (sigma_u ** 2 / (1 - phi ** 2)).reshape(phi.shape + (1, 1))
    m0 = np.zeros(phi.shape + (1,))
    return lgssm(A, [[1.0]], [[sigma_u ** 2]], [[sigma_v ** 2]], m0=m0, P0=P0)


def _require_unbatched(model: LGSSM, who: str) -> None:
    if model.batch is not None:
        raise ValueError(f"{who} takes unbatched parameters (one model), got a batch of {model.batch}")


def make_lgssm(rng: np.random.Generator, n_steps: int, model: LGSSM, n_replicates: int | None = None):
    """Simulate states and observations.

    Returns (x, y) of shapes (T, dx), (T, dy), or (R, T, dx), (R, T, dy) when
    ``n_replicates`` is given.
    """
    _require_unbatched(model, "make_lgssm")
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    lead = () if n_replicates is None else (int(n_replicates),)
    dx, dy = model.dim_x, model.dim_y
    Lq, Lr, L0 = (np.linalg.cholesky(M) for M in (model.Q, model.Rv, model.P0))
    x = np.empty(lead + (n_steps, dx))
    x[..., 0, :] = model.m0 + rng.standard_normal(lead + (dx,)) @ L0.T
    for t in range(1, n_steps):
        x[..., t, :] = x[..., t - 1, :] @ model.A.T + rng.standard_normal(lead + (dx,)) @ Lq.T
    y = x @ model.C.T + rng.standard_normal(lead + (n_steps, dy)) @ Lr.T
    return x, y


def joint_moments(model: LGSSM, n_steps: int):
    """Mean and covariance of the stacked vector (x_0..x_{T-1}, y_0..y_{T-1}).

    Returns (mean (T*(dx+dy),), cov (T*(dx+dy), T*(dx+dy))); states first, each block
    time-major. Exact; O(T^2) memory, meant for checks on short series.
    """
    _require_unbatched(model, "joint_moments")
    dx, dy, T = model.dim_x, model.dim_y, n_steps
    means = [model.m0]
    covs = [model.P0]
    for _ in range(1, T):
        means.append(model.A @ means[-1])
        covs.append(model.A @ covs[-1] @ model.A.T + model.Q)
    Sx = np.zeros((T * dx, T * dx))
    for s in range(T):
        block = covs[s]
        for t in range(s, T):  # Cov(x_t, x_s) = A^{t-s} P_s
            Sx[t * dx:(t + 1) * dx, s * dx:(s + 1) * dx] = block
            Sx[s * dx:(s + 1) * dx, t * dx:(t + 1) * dx] = block.T
            block = model.A @ block
    Cb = np.kron(np.eye(T), model.C)
    Sxy = Sx @ Cb.T
    Syy = Cb @ Sx @ Cb.T + np.kron(np.eye(T), model.Rv)
    mean_x = np.concatenate(means)
    mean = np.concatenate([mean_x, Cb @ mean_x])
    cov = np.block([[Sx, Sxy], [Sxy.T, Syy]])
    return mean, cov


# -------------------------------------------------------------------------------------
# exact inference
# -------------------------------------------------------------------------------------
class KalmanResult(NamedTuple):
    """log_likelihood: log p(y_0:T-1); pred_*: moments of x_t | y_0:t-1; filt_*: of x_t | y_0:t."""
    log_likelihood: float
    pred_means: np.ndarray
    pred_covs: np.ndarray
    filt_means: np.ndarray
    filt_covs: np.ndarray


class SmootherResult(NamedTuple):
    """Moments of x_t | y_0:T-1. cross_covs[t] = Cov(x_t, x_{t+1} | y), shape (T-1, dx, dx)."""
    log_likelihood: float
    means: np.ndarray
    covs: np.ndarray
    cross_covs: np.ndarray


def _check_obs(model: LGSSM, y) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if y.ndim == 1 and model.dim_y == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] != model.dim_y or y.shape[0] < 1:
        raise ValueError(f"y must have shape (T, {model.dim_y}) with T >= 1, got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y holds non-finite values")
    return y


def kalman_filter(model: LGSSM, y) -> KalmanResult:
    """Kalman filter with the exact log-likelihood (prediction-error decomposition).

    y: (T, dy) (or (T,) when dy = 1). Returns moments of shape (T, dx) and (T, dx, dx).
    """
    _require_unbatched(model, "kalman_filter")
    y = _check_obs(model, y)
    T, dx = y.shape[0], model.dim_x
    A, C, Q, R = model.A, model.C, model.Q, model.Rv
    pm, pc = np.empty((T, dx)), np.empty((T, dx, dx))
    fm, fc = np.empty((T, dx)), np.empty((T, dx, dx))
    m, P = model.m0, model.P0
    ll = 0.0
    for t in range(T):
        if t > 0:
            m, P = A @ fm[t - 1], A @ fc[t - 1] @ A.T + Q
        pm[t], pc[t] = m, P
        S = C @ P @ C.T + R
        cho = _sla.cho_factor(S, lower=True)
        e = y[t] - C @ m
        ll -= 0.5 * (e @ _sla.cho_solve(cho, e) + 2 * np.log(np.diag(cho[0])).sum() + len(e) * LOG_2PI)
        K = _sla.cho_solve(cho, C @ P).T  # P C' S^-1
        fm[t] = m + K @ e
        fc[t] = P - K @ S @ K.T
        fc[t] = (fc[t] + fc[t].T) / 2
    return KalmanResult(float(ll), pm, pc, fm, fc)


def rts_smoother(model: LGSSM, y) -> SmootherResult:
    """Rauch-Tung-Striebel smoother with lag-one cross-covariances.

    E[x_t x_{t+1}' | y] = means[t] means[t+1]' + cross_covs[t] exactly
    (see :func:`smoothed_cross_moments`).
    """
    kf = kalman_filter(model, y)
    T, dx = kf.filt_means.shape
    ms, Ps = kf.filt_means.copy(), kf.filt_covs.copy()
    cross = np.empty((max(T - 1, 0), dx, dx))
    for t in range(T - 2, -1, -1):
        G = np.linalg.solve(kf.pred_covs[t + 1], model.A @ kf.filt_covs[t]).T  # P_t A' P_{t+1|t}^-1
        ms[t] = kf.filt_means[t] + G @ (ms[t + 1] - kf.pred_means[t + 1])
        Ps[t] = kf.filt_covs[t] + G @ (Ps[t + 1] - kf.pred_covs[t + 1]) @ G.T
        Ps[t] = (Ps[t] + Ps[t].T) / 2
        cross[t] = G @ Ps[t + 1]
    return SmootherResult(kf.log_likelihood, ms, Ps, cross)


def smoothed_cross_moments(sm: SmootherResult) -> np.ndarray:
    """E[x_t x_{t+1}' | y] for t = 0..T-2, shape (T-1, dx, dx)."""
    return sm.means[:-1, :, None] * sm.means[1:, None, :] + sm.cross_covs


# -------------------------------------------------------------------------------------
# particle methods: helpers
# -------------------------------------------------------------------------------------
def _categorical(rng: np.random.Generator, logits: np.ndarray, n_draws: int) -> np.ndarray:
    """Exact inverse-CDF draws from rows of unnormalised log-probabilities.

    logits: (..., K) (overwritten: pass a scratch array). Returns (..., n_draws) indices in
    [0, K). One searchsorted serves all rows: row r's normalised CDF is shifted by r so the
    flat array stays sorted.
    """
    lead, K = logits.shape[:-1], logits.shape[-1]
    rows = int(np.prod(lead, dtype=int))
    p = logits.reshape(rows, K)
    p -= p.max(axis=1, keepdims=True)
    np.exp(p, out=p)
    np.cumsum(p, axis=1, out=p)
    p /= p[:, -1:]
    offset = np.arange(rows, dtype=float)[:, None]
    p += offset
    u = rng.random((rows, n_draws))
    u += offset
    idx = np.searchsorted(p.ravel(), u.ravel(), side="right")
    idx = idx.reshape(rows, n_draws) - np.arange(rows)[:, None] * K
    return np.minimum(idx, K - 1).reshape(lead + (n_draws,))


def _take(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """a: (R, N, ...); idx: (R, ...idx) -> a[r, idx[r, ...]] of shape (R, ...idx, ...)."""
    R = a.shape[0]
    r = np.arange(R).reshape((R,) + (1,) * (idx.ndim - 1))
    return a[r, idx]


class _Gaussian:
    """log N(diff; 0, S) for diffs with a leading replicate axis, S (d, d) or (R, d, d)."""

    def __init__(self, S: np.ndarray):
        self.L = np.linalg.cholesky(S)
        self.Linv = np.linalg.inv(self.L)
        self.const = -np.log(np.diagonal(self.L, axis1=-2, axis2=-1)).sum(-1) - 0.5 * S.shape[-1] * LOG_2PI

    def logpdf(self, diff: np.ndarray) -> np.ndarray:
        z = _matvec(_lift_param(self.Linv, 2, diff.ndim - 1), diff)
        return -0.5 * (z ** 2).sum(-1) + _lift_param(np.asarray(self.const), 0, diff.ndim - 1)

    def sample(self, rng: np.random.Generator, shape: tuple) -> np.ndarray:
        eps = rng.standard_normal(shape + (self.L.shape[-1],))
        return _matvec(_lift_param(self.L, 2, len(shape)), eps)


def _matvec(M: np.ndarray, x: np.ndarray) -> np.ndarray:
    if M.ndim == 2:
        return x @ M.T
    return np.matmul(M, x[..., None])[..., 0]


def _lift_param(a: np.ndarray, core: int, ndim: int) -> np.ndarray:
    """Batched (R, *core_shape) -> (R, 1, ..., 1, *core_shape) with ``ndim`` leading axes."""
    if a.ndim == core:
        return a
    return a.reshape(a.shape[:1] + (1,) * (ndim - 1) + a.shape[1:])


class _Kernels:
    """The bootstrap filter's pieces for one (possibly batched) LGSSM and data set."""

    def __init__(self, model: LGSSM, y: np.ndarray, n_replicates: int):
        if model.batch is not None and model.batch != n_replicates:
            raise ValueError(f"the model is batched over {model.batch} replicates, not {n_replicates}")
        self.model, self.y, self.R = model, y, n_replicates
        self.trans = _Gaussian(model.Q)
        self.init = _Gaussian(model.P0)
        self.obs = _Gaussian(model.Rv)

    def mean_next(self, x: np.ndarray) -> np.ndarray:
        return _matvec(_lift_param(self.model.A, 2, x.ndim - 1), x)

    def sample_initial(self, rng, n: int) -> np.ndarray:
        m0 = _lift_param(self.model.m0, 1, 2)
        return m0 + self.init.sample(rng, (self.R, n))

    def sample_next(self, rng, x: np.ndarray) -> np.ndarray:
        return self.mean_next(x) + self.trans.sample(rng, x.shape[:-1])

    def log_obs(self, x: np.ndarray, t: int) -> np.ndarray:
        return self.obs.logpdf(self.y[t] - x @ self.model.C.T)

    def backward_logits(self, logw_prev: np.ndarray, x_prev: np.ndarray, x_next: np.ndarray) -> np.ndarray:
        """(R, N', N) log of w_prev[j] m(x_prev[j], x_next[i]) up to a constant per row i.

        With a = L^-1 x_next[i] and b = L^-1 A x_prev[j] (Q = L L'), the log-density is
        -|a - b|^2 / 2 + const; the -|a|^2/2 term is constant in j, which leaves one batched
        product per state dimension instead of an (R, N', N, dx) difference array.
        """
        Linv = _lift_param(self.trans.Linv, 2, 2)
        a = _matvec(Linv, x_next)
        b = _matvec(Linv, self.mean_next(x_prev))
        col = logw_prev - 0.5 * (b ** 2).sum(-1)
        out = a[:, :, None, 0] * b[:, None, :, 0]
        for d in range(1, a.shape[-1]):  # small dx: broadcast products beat a batched matmul
            out += a[:, :, None, d] * b[:, None, :, d]
        out += col[:, None, :]
        return out


def _check_particles(n_particles: int, n_replicates: int, conditional: bool) -> None:
    if n_particles < (2 if conditional else 1):
        raise ValueError(f"n_particles must be >= {2 if conditional else 1}, got {n_particles}")
    if n_replicates < 1:
        raise ValueError(f"n_replicates must be >= 1, got {n_replicates}")


def _log_mean_exp(logw: np.ndarray) -> np.ndarray:
    mx = logw.max(axis=-1)
    return mx + np.log(np.mean(np.exp(logw - mx[..., None]), axis=-1))


# -------------------------------------------------------------------------------------
# particle methods
# -------------------------------------------------------------------------------------
class FilterResult(NamedTuple):
    """log_likelihood: (R,) estimates of log p(y); filter_means: (R, T, dx) weighted means."""
    log_likelihood: np.ndarray
    filter_means: np.ndarray


def bootstrap_particle_filter(model: LGSSM, y, n_particles: int, rng: np.random.Generator,
                              n_replicates: int = 1) -> FilterResult:
    """Bootstrap filter with multinomial resampling at every step, R independent replicates.

    The likelihood estimate exp(log_likelihood) is unbiased; its log is biased low by
    about var/2.
    """
    y = _check_obs(model, y)
    _check_particles(n_particles, n_replicates, False)
    k = _Kernels(model, y, n_replicates)
    T = y.shape[0]
    x = k.sample_initial(rng, n_particles)
    ll = np.zeros(n_replicates)
    means = np.empty((n_replicates, T, model.dim_x))
    for t in range(T):
        if t > 0:
            anc = _categorical(rng, logw.copy(), n_particles)
            x = k.sample_next(rng, _take(x, anc))
        logw = k.log_obs(x, t)
        ll += _log_mean_exp(logw)
        w = np.exp(logw - logw.max(axis=1, keepdims=True))
        means[:, t] = (w[..., None] * x).sum(1) / w.sum(1)[:, None]
    return FilterResult(ll, means)


AdditiveTerm = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


class ParisResult(NamedTuple):
    """estimate: (R, dh) smoothed expectation of the additive functional;
    log_likelihood: (R,) the filter's estimate (conditional runs: not a likelihood estimate);
    reference: (R, T, dx) a trajectory drawn from the particle system (None if not asked)."""
    estimate: np.ndarray
    log_likelihood: np.ndarray
    reference: np.ndarray | None


def paris_smoother(model: LGSSM, y, h: AdditiveTerm | None, n_particles: int, rng: np.random.Generator,
                   n_replicates: int = 1, n_backward: int = 2, h0: Callable | None = None,
                   reference: np.ndarray | None = None, draw_reference: str | None = None,
                   max_block: int = 2 ** 22) -> ParisResult:
    """PaRIS (Olsson & Westerborn 2017) on a bootstrap filter, optionally conditional.

    Estimates E[h0(x_0) + sum_{t=1}^{T-1} h(x_{t-1}, x_t, t) | y] with per-particle
    statistics tau_t^i = mean_j (tau_{t-1}^{J_j} + h(xi_{t-1}^{J_j}, xi_t^i, t)), where the
    ``n_backward`` indices J_j are exact categorical draws from the backward kernel
    proportional to w_{t-1}^j m(xi_{t-1}^j, xi_t^i); the estimate is sum_i w^i tau^i / sum_i w^i.

    h(x_prev, x_curr, t): x_prev (R, N, M, dx), x_curr (R, N, 1, dx) -> (R, N, M, dh)
    (a replicate-batched model's parameters sit on axis 0). h0(x0): (R, N, dx) -> (R, N, dh).
    h may be None (then only the filter and the reference draw run).

    reference: (R, T, dx) or None. Given, the last particle is frozen to it at every
    step (conditional SMC); the other N - 1 are regenerated.
    draw_reference: None, "backward" (a trajectory by backward sampling: final index by
    weight, then one of each particle's own backward indices, which are exact backward-kernel
    draws) or "ancestral" (the final particle's genealogy).
    max_block: cap on R*N*N entries of one backward-kernel block (memory).
    """
    y = _check_obs(model, y)
    _check_particles(n_particles, n_replicates, reference is not None)
    if n_backward < 1:
        raise ValueError(f"n_backward must be >= 1, got {n_backward}")
    if draw_reference not in (None, "backward", "ancestral"):
        raise ValueError(f"draw_reference must be None, 'backward' or 'ancestral', got {draw_reference!r}")
    T, dx, N, R, M = y.shape[0], model.dim_x, n_particles, n_replicates, n_backward
    if reference is not None:
        reference = np.asarray(reference, dtype=float)
        if reference.shape != (R, T, dx):
            raise ValueError(f"reference must have shape {(R, T, dx)}, got {reference.shape}")
    if draw_reference == "backward" and h is None and M < 1:
        raise ValueError("backward reference draws need backward indices")
    k = _Kernels(model, y, R)
    keep_paths = draw_reference is not None
    if keep_paths:
        xs = np.empty((T, R, N, dx))
        links = np.empty((T, R, N, M if draw_reference == "backward" else 1), dtype=np.intp)
    need_backward = h is not None or draw_reference == "backward"

    x = k.sample_initial(rng, N)
    if reference is not None:
        x[:, -1] = reference[:, 0]
    tau = None
    if h is not None:
        tau = np.asarray(h0(x)) if h0 is not None else None
    logw = k.log_obs(x, 0)
    ll = _log_mean_exp(logw)
    if keep_paths:
        xs[0] = x
    rows_per_block = max(1, max_block // (N * N))
    for t in range(1, T):
        anc = _categorical(rng, logw.copy(), N)
        if reference is not None:
            anc[:, -1] = N - 1
        x_prev, logw_prev = x, logw
        x = k.sample_next(rng, _take(x_prev, anc))
        if reference is not None:
            x[:, -1] = reference[:, t]
        if need_backward:
            J = np.empty((R, N, M), dtype=np.intp)
            for lo in range(0, R, rows_per_block):
                sl = slice(lo, min(R, lo + rows_per_block))
                logits = k.backward_logits(logw_prev[sl], x_prev[sl], x[sl])
                J[sl] = _categorical(rng, logits, M)
            if h is not None:
                xp = _take(x_prev, J)                                   # (R, N, M, dx)
                inc = np.asarray(h(xp, x[:, :, None, :], t))            # (R, N, M, dh)
                tau = (inc if tau is None else _take(tau, J) + inc).mean(axis=2)
        if keep_paths:
            xs[t] = x
            links[t] = J if draw_reference == "backward" else anc[..., None]
        logw = k.log_obs(x, t)
        ll += _log_mean_exp(logw)

    estimate = None
    if h is not None:
        if tau is None:
            raise ValueError("with T = 1 the functional needs h0")
        w = np.exp(logw - logw.max(axis=1, keepdims=True))
        estimate = (w[..., None] * tau).sum(1) / w.sum(1)[:, None]
    new_ref = None
    if keep_paths:
        b = _categorical(rng, logw.copy(), 1)[:, 0]
        new_ref = np.empty((R, T, dx))
        rr = np.arange(R)
        for t in range(T - 1, -1, -1):
            new_ref[:, t] = xs[t, rr, b]
            if t > 0:
                pick = rng.integers(links.shape[-1], size=R)
                b = links[t, rr, b, pick]
    return ParisResult(estimate, ll, new_ref)


def conditional_smc(model: LGSSM, y, reference: np.ndarray, n_particles: int, rng: np.random.Generator,
                    backward_sampling: bool = True) -> np.ndarray:
    """One particle Gibbs move: conditional SMC around ``reference`` (R, T, dx), returning a
    new reference (R, T, dx) drawn by backward sampling (or from the genealogy)."""
    reference = np.asarray(reference, dtype=float)
    if reference.ndim != 3:
        raise ValueError(f"reference must have shape (R, T, dx), got {reference.shape}")
    out = paris_smoother(model, y, None, n_particles, rng, n_replicates=reference.shape[0], n_backward=1,
                         reference=reference, draw_reference="backward" if backward_sampling else "ancestral")
    return out.reference


class PPGResult(NamedTuple):
    """estimate: (R, dh) average of iterations burn_in+1..k; per_iteration: (k, R, dh);
    reference: (R, T, dx) the chain's last state (pass it back to continue the chain)."""
    estimate: np.ndarray
    per_iteration: np.ndarray
    reference: np.ndarray


def ppg(model: LGSSM, y, h: AdditiveTerm, n_particles: int, n_iterations: int, burn_in: int,
        rng: np.random.Generator, n_replicates: int = 1, n_backward: int = 2, h0: Callable | None = None,
        reference: np.ndarray | None = None, backward_sampling: bool = True) -> PPGResult:
    """PaRIS particle Gibbs: PaRIS run inside conditional SMC, iterated k times.

    Iteration l runs PaRIS conditionally on the reference left by iteration l - 1 and draws
    the next reference from its own particle system. With ``reference=None`` the first
    iteration is an ordinary (unconditional) PaRIS run that only seeds the chain. The
    returned estimate averages the PaRIS estimates of iterations burn_in+1..k: the burn-in
    removes the bias of the chain's start, the average reduces the variance.
    """
    if not 0 <= burn_in < n_iterations:
        raise ValueError(f"need 0 <= burn_in < n_iterations, got burn_in={burn_in}, n_iterations={n_iterations}")
    per = []
    ref = reference
    for _ in range(n_iterations):
        out = paris_smoother(model, y, h, n_particles, rng, n_replicates=n_replicates, n_backward=n_backward,
                             h0=h0, reference=ref, draw_reference="backward" if backward_sampling else "ancestral")
        per.append(out.estimate)
        ref = out.reference
    per = np.stack(per)
    return PPGResult(per[burn_in:].mean(axis=0), per, ref)
