"""Hidden Markov models over any emission model: forward-backward and Viterbi.

The emission model stays with the caller: every function here takes the matrix of
emission log-likelihoods ``log_emission[t, k] = log p(y_t | z_t = k, past)``, shape
(T, K), so Poisson GLMs, switching autoregressions and Gaussians all use one E-step.
Probabilities are in natural-log units; zero start or transition probabilities
(left-to-right chains) are allowed as ``-inf``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Posterior(NamedTuple):
    """Result of :func:`forward_backward`.

    log_likelihood: log p(y_1:T) (plus the log prior weights, when given).
    state_probs: (T, K) smoothed marginals p(z_t = k | y_1:T).
    transition_counts: (K, K) sum over t of p(z_t = i, z_t+1 = j | y_1:T).
    """
    log_likelihood: float
    state_probs: np.ndarray
    transition_counts: np.ndarray


def _check(log_emission, log_startprob, log_transmat, log_prior):
    log_emission = np.asarray(log_emission, dtype=float)
    if log_emission.ndim != 2 or log_emission.shape[0] < 1:
        raise ValueError(f"log_emission must have shape (T, K) with T >= 1, got {log_emission.shape}")
    n_states = log_emission.shape[1]
    log_startprob = np.asarray(log_startprob, dtype=float)
    log_transmat = np.asarray(log_transmat, dtype=float)
    if log_startprob.shape != (n_states,):
        raise ValueError(f"log_startprob must have shape ({n_states},), got {log_startprob.shape}")
    if log_transmat.shape != (n_states, n_states):
        raise ValueError(f"log_transmat must have shape ({n_states}, {n_states}), got {log_transmat.shape}")
    if np.isnan(log_emission).any():
        raise ValueError("log_emission holds NaN")
    if log_prior is not None:
        log_prior = np.asarray(log_prior, dtype=float)
        if log_prior.shape != log_emission.shape:
            raise ValueError(f"log_prior must have the shape of log_emission {log_emission.shape}, "
                             f"got {log_prior.shape}")
        log_emission = log_emission + log_prior
    return log_emission, log_startprob, log_transmat


def forward_backward(log_emission, log_startprob, log_transmat, log_prior=None) -> Posterior:
    """Smoothed state marginals and expected transitions of one sequence.

    log_emission: (T, K); log_startprob: (K,); log_transmat: (K, K), rows = from-state.
    log_prior: optional (T, K) log weights multiplied into each emission term, the
    'weighted distribution' form of partial knowledge about z_t (log 1 = no knowledge);
    the returned log-likelihood is then the weighted one, which EM increases.

    Runs the scaled (normalise-each-step) recursions on exp(log_emission - row max), which
    is as stable as log-space sums and much faster in NumPy.
    """
    log_emission, log_startprob, log_transmat = _check(log_emission, log_startprob, log_transmat, log_prior)
    n_steps, n_states = log_emission.shape
    shift = log_emission.max(axis=1, keepdims=True)
    if not np.all(np.isfinite(shift)):
        raise ValueError("some time step has zero likelihood under every state")
    emission = np.exp(log_emission - shift)
    transmat = np.exp(log_transmat)
    alpha = np.empty((n_steps, n_states))
    scale = np.empty(n_steps)
    a = np.exp(log_startprob) * emission[0]
    for t in range(n_steps):
        if t > 0:
            a = (alpha[t - 1] @ transmat) * emission[t]
        scale[t] = a.sum()
        if scale[t] <= 0:
            raise ValueError(f"the sequence has zero probability at t = {t} under this model")
        alpha[t] = a / scale[t]
    beta = np.empty((n_steps, n_states))
    beta[-1] = 1.0
    counts = np.zeros((n_states, n_states))
    for t in range(n_steps - 2, -1, -1):
        weighted = emission[t + 1] * beta[t + 1]
        counts += transmat * np.outer(alpha[t], weighted) / scale[t + 1]
        beta[t] = (transmat @ weighted) / scale[t + 1]
    gamma = alpha * beta
    gamma /= gamma.sum(axis=1, keepdims=True)
    log_likelihood = float(np.log(scale).sum() + shift.sum())
    return Posterior(log_likelihood, gamma, counts)


def log_likelihood(log_emission, log_startprob, log_transmat, log_prior=None) -> float:
    """log p(y_1:T) by the forward recursion (see :func:`forward_backward`)."""
    return forward_backward(log_emission, log_startprob, log_transmat, log_prior).log_likelihood


def viterbi(log_emission, log_startprob, log_transmat, log_prior=None) -> tuple[np.ndarray, float]:
    """Most probable state path (T,) of ints and its joint log-probability."""
    log_emission, log_startprob, log_transmat = _check(log_emission, log_startprob, log_transmat, log_prior)
    n_steps, n_states = log_emission.shape
    back = np.empty((n_steps, n_states), dtype=int)
    delta = log_startprob + log_emission[0]
    for t in range(1, n_steps):
        cand = delta[:, None] + log_transmat
        back[t] = cand.argmax(axis=0)
        delta = cand[back[t], np.arange(n_states)] + log_emission[t]
    path = np.empty(n_steps, dtype=int)
    path[-1] = int(delta.argmax())
    for t in range(n_steps - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path, float(delta.max())
