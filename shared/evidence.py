"""Nested-sampling evidence with counted likelihood calls, and a surrogate switch.

- :class:`CountingLikelihood`: wraps a log-likelihood, counts its calls and (optionally)
  stores every ``(theta, log L)`` pair it returned;
- :func:`run_nested`: a thin wrapper of dynesty's static ``NestedSampler`` that runs the
  loop itself, so a hook can look at the live points after every iteration; returns
  ``log Z``, its error, equally weighted posterior samples and the call counts;
- :class:`SurrogateSwitch`: a log-likelihood that, once triggered, fits a regressor to the
  stored true evaluations (and the current live points) and, if the regressor's
  validation error is below a tolerance, answers with it instead of the true
  likelihood; only true calls are counted as cost. The regressor is a plug-in
  (``fit(X, y, threshold) -> SurrogateFit``), so this module does not depend on torch.

Determinism: dynesty draws from ``rstate = np.random.default_rng(seed)``, no pool is
used, so one seed gives one run on one machine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from .validation import positive_float, positive_int


class CountingLikelihood:
    """A log-likelihood that counts its calls and can keep what it returned.

    Parameters
    ----------
    log_likelihood : callable
        ``theta (ndim,) -> float``.
    store : bool
        Keep every ``(theta, log L)`` pair (for a surrogate's training set).

    Attributes
    ----------
    n_calls : int
        Number of calls so far.
    thetas, logls : ndarray (n_calls, ndim), (n_calls,)
        The stored pairs (empty when ``store`` is False).
    """

    def __init__(self, log_likelihood: Callable[[np.ndarray], float], store: bool = False):
        if not callable(log_likelihood):
            raise ValueError("log_likelihood must be callable")
        self.log_likelihood = log_likelihood
        self.store = bool(store)
        self.n_calls = 0
        self._thetas: list[np.ndarray] = []
        self._logls: list[float] = []

    def __call__(self, theta) -> float:
        self.n_calls += 1
        value = float(self.log_likelihood(theta))
        if self.store:
            self._thetas.append(np.array(theta, dtype=float))
            self._logls.append(value)
        return value

    @property
    def thetas(self) -> np.ndarray:
        return np.array(self._thetas, dtype=float)

    @property
    def logls(self) -> np.ndarray:
        return np.array(self._logls, dtype=float)

    def recent(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The last ``n`` stored pairs, ``(thetas (m, ndim), logls (m,))`` with ``m <= n``."""
        n = positive_int("n", n)
        return np.array(self._thetas[-n:], dtype=float), np.array(self._logls[-n:], dtype=float)


@dataclass
class NestedResult:
    """What :func:`run_nested` returns.

    ``logz``/``logz_err`` are natural-log evidence and dynesty's error estimate;
    ``samples`` are equally weighted posterior draws (``dynesty.utils.resample_equal``),
    shape ``(n, ndim)``; ``n_calls`` counts calls of the likelihood passed in (for a
    :class:`SurrogateSwitch`, its own ``n_true``/``n_surrogate`` split them);
    ``n_iter`` the nested-sampling iterations; ``information`` the KL divergence
    posterior-to-prior (nats); ``results`` dynesty's full ``Results``.
    """

    logz: float
    logz_err: float
    samples: np.ndarray
    n_calls: int
    n_iter: int
    information: float
    results: object = field(repr=False)

    @property
    def mean(self) -> np.ndarray:
        return self.samples.mean(axis=0)

    @property
    def sd(self) -> np.ndarray:
        return self.samples.std(axis=0, ddof=1)


def run_nested(log_likelihood: Callable[[np.ndarray], float],
               prior_transform: Callable[[np.ndarray], np.ndarray], ndim: int, *,
               nlive: int = 500, dlogz: float = 0.5, seed: int | None = None,
               rng: np.random.Generator | None = None, bound: str = "multi",
               sample: str = "auto", maxcall: int | None = None,
               on_iteration: Callable[[object, object], None] | None = None) -> NestedResult:
    """Static nested sampling with dynesty; the likelihood's calls are counted here.

    Parameters
    ----------
    log_likelihood : callable
        ``theta (ndim,) -> float``, in physical parameter units.
    prior_transform : callable
        Maps ``u`` in the unit cube ``(ndim,)`` to ``theta`` (the prior's inverse CDF).
    ndim : int
        Number of parameters.
    nlive : int
        Live points.
    dlogz : float
        Stop when the estimated remaining evidence adds less than this to ``log Z``.
    seed, rng :
        Exactly one: dynesty's ``rstate`` is ``np.random.default_rng(seed)``, or ``rng``.
    bound, sample : str
        dynesty's bounding and sampling methods.
    maxcall : int, optional
        Cap on likelihood calls.
    on_iteration : callable, optional
        ``on_iteration(sampler, result)`` after every iteration of the main loop
        (``result`` is dynesty's ``IteratorResult``; ``sampler.live_v`` and
        ``sampler.live_logl`` are the live points); a :class:`SurrogateSwitch` hooks in here.

    Returns
    -------
    NestedResult
    """
    import dynesty
    from dynesty.utils import resample_equal

    ndim = positive_int("ndim", ndim)
    nlive = positive_int("nlive", nlive)
    dlogz = positive_float("dlogz", dlogz)
    if (seed is None) == (rng is None):
        raise ValueError("give exactly one of seed and rng")
    if rng is None:
        rng = np.random.default_rng(seed)
    if not callable(prior_transform):
        raise ValueError("prior_transform must be callable")
    if on_iteration is not None and not callable(on_iteration):
        raise ValueError("on_iteration must be callable or None")
    counter = CountingLikelihood(log_likelihood)
    sampler = dynesty.NestedSampler(counter, prior_transform, ndim, nlive=nlive, bound=bound,
                                    sample=sample, rstate=rng)
    for result in sampler.sample(dlogz=dlogz, maxcall=maxcall, save_bounds=False):
        if on_iteration is not None:
            on_iteration(sampler, result)
    for _ in sampler.add_live_points():
        pass
    res = sampler.results
    weights = np.exp(res["logwt"] - res["logz"][-1])
    samples = resample_equal(res["samples"], weights / weights.sum(), rstate=rng)
    return NestedResult(logz=float(res["logz"][-1]), logz_err=float(res["logzerr"][-1]),
                        samples=np.asarray(samples), n_calls=counter.n_calls,
                        n_iter=int(res["niter"]), information=float(res["information"][-1]),
                        results=res)


class SurrogateFit(NamedTuple):
    """A fitted regressor: ``predict(X (n, ndim)) -> (n,)`` log L, and its validation error
    (in log L units, as the ``fit`` function measured it); ``info`` is free-form."""

    predict: Callable[[np.ndarray], np.ndarray]
    val_error: float
    info: dict


class SurrogateSwitch:
    """A log-likelihood that replaces itself by a regressor once the regressor is good enough.

    Before the switch every call goes to the true ``log_likelihood`` (counted in
    ``n_true`` and stored). :meth:`on_iteration` (pass it to :func:`run_nested`) decides
    when to try: once ``n_true >= trigger_calls`` or the sampler's remaining-evidence
    estimate ``delta_logz <= trigger_dlogz``. A try calls ``fit(X, y, threshold)`` on the
    last ``n_recent`` true evaluations plus the current live points (``threshold`` is the
    lowest live log L: every later accepted point lies above it); if the returned
    ``val_error < tolerance`` the surrogate answers all later calls (``n_surrogate``),
    else another try follows after ``retry_calls`` more true calls (at most ``max_tries``).

    With ``check_every`` set, every ``check_every`` surrogate calls the last ``n_check``
    points the surrogate answered are re-evaluated with the true likelihood (counted as
    true calls); if the RMSE on those inside the current contour exceeds
    ``check_factor * tolerance``, the switch falls back to the true likelihood (and may
    retry later).

    Parameters
    ----------
    log_likelihood : callable
        ``theta (ndim,) -> float``.
    fit : callable
        ``fit(X (n, ndim), y (n,), threshold: float) -> SurrogateFit``.
    trigger_calls : int, optional
    trigger_dlogz : float, optional
        At least one of the two triggers must be given.
    tolerance : float
        Largest accepted validation error, in log L units.
    n_recent : int
        Recent true evaluations added to the live points in the training set.
    retry_calls, max_tries : int
    check_every, n_check : int, optional
    check_factor : float
    """

    def __init__(self, log_likelihood, fit, *, trigger_calls: int | None = None,
                 trigger_dlogz: float | None = None, tolerance: float = 0.1,
                 n_recent: int = 1000, retry_calls: int = 500, max_tries: int = 5,
                 check_every: int | None = None, n_check: int = 20, check_factor: float = 3.0):
        if not callable(fit):
            raise ValueError("fit must be callable: fit(X, y, threshold) -> SurrogateFit")
        if trigger_calls is None and trigger_dlogz is None:
            raise ValueError("give trigger_calls, trigger_dlogz or both")
        self.true = CountingLikelihood(log_likelihood, store=True)
        self.fit = fit
        self.trigger_calls = None if trigger_calls is None else positive_int("trigger_calls", trigger_calls)
        self.trigger_dlogz = None if trigger_dlogz is None else positive_float("trigger_dlogz", trigger_dlogz)
        self.tolerance = positive_float("tolerance", tolerance)
        self.n_recent = positive_int("n_recent", n_recent)
        self.retry_calls = positive_int("retry_calls", retry_calls)
        self.max_tries = positive_int("max_tries", max_tries)
        self.check_every = None if check_every is None else positive_int("check_every", check_every)
        self.n_check = positive_int("n_check", n_check)
        self.check_factor = positive_float("check_factor", check_factor)
        self.predictor: Callable[[np.ndarray], np.ndarray] | None = None
        self.n_surrogate = 0
        self.events: list[dict] = []       # one row per try / check, for the notebook's table
        self.fits: list[SurrogateFit] = []
        self._next_try_at: int | None = None
        self._since_check = 0
        self._answered: list[np.ndarray] = []

    @property
    def n_true(self) -> int:
        return self.true.n_calls

    @property
    def active(self) -> bool:
        return self.predictor is not None

    def __call__(self, theta) -> float:
        if self.predictor is None:
            return self.true(theta)
        self.n_surrogate += 1
        self._since_check += 1
        theta = np.asarray(theta, dtype=float)
        if self.check_every is not None:
            self._answered.append(theta)
            del self._answered[:-self.n_check]
        return float(np.asarray(self.predictor(theta[None, :])).reshape(-1)[0])

    def _due(self, delta_logz: float) -> bool:
        if len(self.fits) >= self.max_tries:
            return False
        if self._next_try_at is not None:
            return self.n_true >= self._next_try_at
        by_calls = self.trigger_calls is not None and self.n_true >= self.trigger_calls
        by_dlogz = self.trigger_dlogz is not None and delta_logz <= self.trigger_dlogz
        return by_calls or by_dlogz

    def on_iteration(self, sampler, result) -> None:
        """Hook for :func:`run_nested`: try a switch, or check an active surrogate."""
        threshold = float(np.min(sampler.live_logl))
        if self.predictor is not None:
            if self.check_every is not None and self._since_check >= self.check_every:
                self._check(threshold, result.delta_logz)
            return
        if not self._due(result.delta_logz):
            return
        X_recent, y_recent = self.true.recent(self.n_recent)
        X = np.concatenate([X_recent, np.asarray(sampler.live_v, dtype=float)])
        y = np.concatenate([y_recent, np.asarray(sampler.live_logl, dtype=float)])
        fitted = self.fit(X, y, threshold)
        if not isinstance(fitted, SurrogateFit):
            raise ValueError("fit must return a SurrogateFit(predict, val_error, info)")
        self.fits.append(fitted)
        ok = bool(np.isfinite(fitted.val_error) and fitted.val_error < self.tolerance)
        self.events.append({"event": "fit", "n_true": self.n_true, "delta_logz": float(result.delta_logz),
                            "error": float(fitted.val_error), "switched": ok})
        if ok:
            self.predictor = fitted.predict
            self._since_check = 0
        else:
            self._next_try_at = self.n_true + self.retry_calls

    def _check(self, threshold: float, delta_logz: float) -> None:
        thetas = list(self._answered)
        pred = np.asarray(self.predictor(np.array(thetas)), dtype=float).reshape(-1)
        truth = np.array([self.true(t) for t in thetas])
        inside = truth >= threshold
        diff = (pred - truth)[inside] if inside.any() else pred - truth
        rmse = float(np.sqrt(np.mean(diff ** 2)))
        ok = rmse <= self.check_factor * self.tolerance
        self.events.append({"event": "check", "n_true": self.n_true, "delta_logz": float(delta_logz),
                            "error": rmse, "switched": ok})
        self._since_check = 0
        self._answered = []
        if not ok:
            self.predictor = None
            self._next_try_at = self.n_true + self.retry_calls
