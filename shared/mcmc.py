"""Random-walk Metropolis-Hastings over many parallel chains, and score line integrals.

The sampler only needs ``log p(y) - log p(x)`` for a batch of (current, proposed) pairs,
so it can be driven either by a log-density (known up to a constant) or by any other
estimate of that difference, e.g. the line integral of an estimated score
(:func:`score_line_integral`), which is how a regularised auto-encoder can be sampled.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .validation import positive_int


def _as_chains(x0) -> np.ndarray:
    x = np.asarray(x0, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"x0 must have shape (chains, d), got {np.shape(x0)}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 holds NaN or infinite values")
    return x


def score_line_integral(score_fn: Callable[[np.ndarray], np.ndarray], x, y, n_points: int = 8) -> np.ndarray:
    """Approximate ``log p(y) - log p(x)`` by integrating a score along the segment.

    ``log p(y) - log p(x) = int_0^1 s(x + t (y - x)) . (y - x) dt`` when ``s`` is the
    gradient of ``log p``; the integral is taken with the trapezoid rule on ``n_points``
    equally spaced points (ends included). One call of ``score_fn`` on all points.

    Parameters
    ----------
    score_fn : callable
        Maps an array ``(m, d)`` to the score at those points, ``(m, d)``.
    x, y : array (n, d), or (n,) for d = 1
        Start and end points of ``n`` segments.
    n_points : int
        Number of quadrature points, at least 2.

    Returns
    -------
    ndarray (n,)
    """
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}")
    x, y = _as_chains(x), _as_chains(y)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    n, d = x.shape
    t = np.linspace(0.0, 1.0, int(n_points))
    pts = x[None] + t[:, None, None] * (y - x)[None]  # (n_points, n, d)
    s = np.asarray(score_fn(pts.reshape(-1, d)), dtype=float)
    if s.shape != (n_points * n, d):
        raise ValueError(f"score_fn must return shape {(n_points * n, d)}, got {s.shape}")
    proj = (s.reshape(n_points, n, d) * (y - x)[None]).sum(axis=2)  # (n_points, n)
    return np.trapezoid(proj, t, axis=0)


def metropolis_hastings(x0, n_steps: int, proposal_sd: float, rng: np.random.Generator, *,
                        log_density: Callable[[np.ndarray], np.ndarray] | None = None,
                        log_ratio: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None):
    """Vectorised random-walk Metropolis-Hastings with Gaussian proposals.

    Every chain proposes ``y = x + proposal_sd * N(0, I)`` and accepts with probability
    ``min(1, exp(log p(y) - log p(x)))``; the proposal is symmetric, so no correction.

    Parameters
    ----------
    x0 : array (chains, d), or (chains,) for d = 1
        Initial states.
    n_steps : int
        Number of MH steps; every step is recorded.
    proposal_sd : float
        Standard deviation of the isotropic Gaussian proposal, in the units of ``x``.
    rng : numpy.random.Generator
        Source of proposals and acceptance draws.
    log_density : callable, optional
        ``(m, d) -> (m,)`` log-density up to a constant.
    log_ratio : callable, optional
        ``(x, y) -> (chains,)`` estimate of ``log p(y) - log p(x)`` for current states
        ``x`` and proposals ``y`` (e.g. a score line integral). Give exactly one of the two.

    Returns
    -------
    samples : ndarray (n_steps, chains, d)
        The state of every chain after each step.
    acceptance_rate : float
        Fraction of accepted proposals over all chains and steps.
    """
    if (log_density is None) == (log_ratio is None):
        raise ValueError("give exactly one of log_density and log_ratio")
    n_steps = positive_int("n_steps", n_steps)
    if isinstance(proposal_sd, bool) or not np.isfinite(proposal_sd) or proposal_sd <= 0:
        raise ValueError(f"proposal_sd must be a positive finite number, got {proposal_sd!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    x = _as_chains(x0).copy()
    chains, d = x.shape
    samples = np.empty((int(n_steps), chains, d))
    logp = np.asarray(log_density(x), dtype=float) if log_density is not None else None
    accepted = 0
    for step in range(int(n_steps)):
        y = x + proposal_sd * rng.standard_normal((chains, d))
        if log_density is not None:
            logp_y = np.asarray(log_density(y), dtype=float)
            delta = logp_y - logp
        else:
            delta = np.asarray(log_ratio(x, y), dtype=float)
        if delta.shape != (chains,):
            raise ValueError(f"the log-density difference must have shape ({chains},), got {delta.shape}")
        # NaN differences (e.g. both points at -inf log-density) are rejected.
        accept = np.log(rng.uniform(size=chains)) < np.nan_to_num(delta, nan=-np.inf)
        x[accept] = y[accept]
        if logp is not None:
            logp[accept] = logp_y[accept]
        accepted += int(accept.sum())
        samples[step] = x
    return samples, accepted / (chains * int(n_steps))


def emcee_sample(log_prob: Callable[[np.ndarray], np.ndarray], x0=None, *, n_walkers: int, n_steps: int,
                 seed: int | np.random.Generator, burn: int = 0, center=None, scale=None,
                 vectorize: bool = False, thin: int = 1):
    """Affine-invariant ensemble sampling with emcee (Goodman & Weare stretch move).

    Parameters
    ----------
    log_prob : callable
        ``(d,) -> float`` log-density up to a constant, or ``(n_walkers, d) -> (n_walkers,)``
        when ``vectorize`` is true (one call per step for the whole ensemble).
    x0 : array (n_walkers, d), optional
        Starting positions. Otherwise give ``center`` (d,) and ``scale`` (d,): walkers start
        at ``center + scale * N(0, I)`` (an "initialisation ball").
    n_walkers, n_steps : int
        Ensemble size (>= 2 d, as emcee requires) and number of steps.
    seed : int or numpy.random.Generator
        Seeds the ball and emcee's own random state (so runs repeat exactly).
    burn : int
        Leading steps discarded from the returned samples (< n_steps).
    thin : int
        Keep every ``thin``-th step after burn-in.

    Returns
    -------
    samples : ndarray ((n_steps - burn) // thin * n_walkers, d), flattened over walkers
    acceptance : float, mean acceptance fraction over walkers
    """
    import emcee

    n_walkers, n_steps, thin = (positive_int(k, v) for k, v in
                                (("n_walkers", n_walkers), ("n_steps", n_steps), ("thin", thin)))
    if isinstance(burn, bool) or not isinstance(burn, (int, np.integer)) or not 0 <= burn < n_steps:
        raise ValueError(f"burn must be an integer in [0, n_steps), got {burn!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if x0 is None:
        if center is None or scale is None:
            raise ValueError("give x0, or center and scale for an initialisation ball")
        center = np.asarray(center, dtype=float).ravel()
        scale = np.asarray(scale, dtype=float).ravel()
        if center.shape != scale.shape or np.any(scale <= 0):
            raise ValueError("center and scale must have the same length and scale must be positive")
        x0 = center + scale * rng.standard_normal((int(n_walkers), center.size))
    x0 = _as_chains(x0)
    if x0.shape[0] != n_walkers:
        raise ValueError(f"x0 has {x0.shape[0]} walkers, n_walkers is {n_walkers}")
    d = x0.shape[1]
    if n_walkers < 2 * d:
        raise ValueError(f"emcee needs n_walkers >= 2 d = {2 * d}, got {n_walkers}")
    sampler = emcee.EnsembleSampler(int(n_walkers), d, log_prob, vectorize=vectorize)
    # emcee draws from its own legacy RandomState; seed it from rng so the run repeats.
    sampler.random_state = np.random.RandomState(int(rng.integers(2**32 - 1))).get_state()
    sampler.run_mcmc(x0, int(n_steps), progress=False)
    samples = sampler.get_chain(discard=int(burn), thin=int(thin), flat=True)
    return samples, float(np.mean(sampler.acceptance_fraction))
