"""Preference-optimisation losses, optimal policies, samplers and exact evaluation.

Losses (torch; inputs are 1-D tensors of sequence log-probabilities of the preferred ``w``
and dispreferred ``l`` response of each pair, ``ref_*`` those of a frozen reference; the
result is the batch mean, or per pair with ``reduction="none"``):

- :func:`dpo_loss`, :func:`ipo_loss`, :func:`slic_hinge_loss`: functions of the log-ratio
  margin ``h = (logp_w - ref_w) - (logp_l - ref_l)``;
- :func:`orpo_loss`, :func:`asft_loss`: functions of length-normalised log-probabilities
  (no reference model);
- :func:`pro_loss`: PRO's listwise ranking loss; :func:`sppo_loss`: SPPO's square loss;
  :func:`nll_loss`: maximum likelihood.

Numpy tools: :func:`bradley_terry_label`, :func:`kl_regularised_optimal_policy`,
:func:`statistical_rejection_sampler` (RSO), :func:`expected_reward`, :func:`win_rate`,
:func:`nash_equilibrium` and :func:`exploitability` of a preference game, :func:`ches_score`
(centred hidden-embedding similarity). :class:`ContextualSoftmaxPolicy` is a bilinear policy
over a finite response set that starts at a given base policy.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linprog
from scipy.special import expit, softmax
from torch import nn
from torch.nn import functional as F

from .validation import non_negative_float, positive_float, positive_int

REDUCTIONS = ("mean", "none")


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; valid: {', '.join(REDUCTIONS)}")
    return loss.mean() if reduction == "mean" else loss


def _same_shape(*tensors: torch.Tensor) -> None:
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"log-probability tensors must share one shape, got {sorted(shapes)}")
    if len(next(iter(shapes))) != 1:
        raise ValueError("log-probabilities must be 1-D tensors (one entry per pair)")


def _margin(logp_w, logp_l, ref_w, ref_l) -> torch.Tensor:
    _same_shape(logp_w, logp_l, ref_w, ref_l)
    return (logp_w - ref_w) - (logp_l - ref_l)


def dpo_loss(logp_w, logp_l, ref_w, ref_l, *, beta: float, reduction: str = "mean") -> torch.Tensor:
    """DPO: ``-log sigmoid(beta * h)``; its minimiser over a tabular policy with pairs labelled by
    Bradley-Terry on ``r`` is ``pi_ref exp(r / beta)`` normalised."""
    beta = positive_float("beta", beta)
    return _reduce(-F.logsigmoid(beta * _margin(logp_w, logp_l, ref_w, ref_l)), reduction)


def ipo_loss(logp_w, logp_l, ref_w, ref_l, *, tau: float, reduction: str = "mean") -> torch.Tensor:
    """IPO: ``(h - 1 / (2 tau))^2``, which regresses the margin onto a fixed target."""
    tau = positive_float("tau", tau)
    return _reduce((_margin(logp_w, logp_l, ref_w, ref_l) - 1.0 / (2.0 * tau)) ** 2, reduction)


def slic_hinge_loss(logp_w, logp_l, ref_w=None, ref_l=None, *, margin: float = 1.0, gamma: float = 1.0,
                    reduction: str = "mean") -> torch.Tensor:
    """SLiC calibration hinge: ``max(0, margin - gamma * h)``.

    Without references ``h = logp_w - logp_l`` (SLiC); with them ``h`` is the normalised
    log-ratio margin (RSO's "hinge-norm")."""
    margin = positive_float("margin", margin)
    gamma = positive_float("gamma", gamma)
    if (ref_w is None) != (ref_l is None):
        raise ValueError("give both ref_w and ref_l, or neither")
    if ref_w is None:
        _same_shape(logp_w, logp_l)
        h = logp_w - logp_l
    else:
        h = _margin(logp_w, logp_l, ref_w, ref_l)
    return _reduce(F.relu(margin - gamma * h), reduction)


def _log_odds(avg_logp: torch.Tensor) -> torch.Tensor:
    """``log(p / (1 - p))`` of ``p = exp(avg_logp)``."""
    if bool((avg_logp > 0).any()):
        raise ValueError("length-normalised log-probabilities must be <= 0 (p <= 1)")
    # a confident float32 model can round log p to exactly 0; keep 1 - p positive
    avg_logp = avg_logp.clamp(max=-torch.finfo(avg_logp.dtype).eps)
    return avg_logp - torch.log(-torch.expm1(avg_logp))


def orpo_loss(avg_w, avg_l, *, lam: float, reduction: str = "mean") -> torch.Tensor:
    """ORPO: ``-avg_w - lam * log sigmoid(logodds(avg_w) - logodds(avg_l))``.

    ``avg_*`` are length-normalised log-probabilities (``sequence_logprob(..., average=True)``);
    the first term is the SFT loss on the preferred response."""
    lam = non_negative_float("lam", lam)
    _same_shape(avg_w, avg_l)
    ratio = -F.logsigmoid(_log_odds(avg_w) - _log_odds(avg_l))
    return _reduce(-avg_w + lam * ratio, reduction)


def asft_loss(avg_w, avg_l, *, lam: float, reduction: str = "mean") -> torch.Tensor:
    """ASFT: ``-avg_w + lam * [-log sigmoid(logodds(avg_w)) - log sigmoid(-logodds(avg_l))]``.

    Each response gets its own absolute term, a binary cross-entropy on the length-normalised
    probability ``p = exp(avg)``: ``-log p_w - log(1 - p_l)``; no reference model. So the loss
    equals ``-(1 + lam) avg_w - lam log(1 - p_l)``: nothing in it couples the two responses of
    a pair, and the reject term's gradient weight ``p_l / (1 - p_l)`` fades as ``p_l`` falls."""
    lam = non_negative_float("lam", lam)
    _same_shape(avg_w, avg_l)
    align = -F.logsigmoid(_log_odds(avg_w)) - F.logsigmoid(-_log_odds(avg_l))
    return _reduce(-avg_w + lam * align, reduction)


def pro_loss(scores, rewards=None, *, reduction: str = "mean") -> torch.Tensor:
    """PRO's listwise ranking loss over ``n`` candidates ranked best first.

    ``L = -sum_{k=1}^{n-1} log[ exp(s_k / T_k^k) / sum_{i>=k} exp(s_i / T_k^i) ]`` with
    ``T_k^i = 1 / (r_k - r_i)`` for ``i > k`` and ``T_k^k = min_{i>k} T_k^i`` (reward-gap
    temperatures); ``rewards=None`` sets every temperature to 1 (plain Plackett-Luce). The
    rewards' scale sets how sharp the temperatures are. PRO's NLL term on the best candidate is
    the caller's (the official code adds ``0.05 (n - 1)^2`` times its summed NLL).

    Parameters
    ----------
    scores : (B, n) tensor
        The policy's scores (length-normalised log-likelihoods in PRO), best candidate first.
    rewards : (B, n) array-like or None
        The rewards behind the ranking, non-increasing along each row.
    """
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or scores.shape[1] < 2:
        raise ValueError("scores must be a (B, n) tensor with n >= 2 candidates, best first")
    n = scores.shape[1]
    if rewards is None:
        inv_t = torch.ones(scores.shape[0], n, n, dtype=scores.dtype, device=scores.device)
    else:
        r = torch.as_tensor(rewards, dtype=scores.dtype, device=scores.device)
        if r.shape != scores.shape:
            raise ValueError(f"rewards shape {tuple(r.shape)} differs from scores shape {tuple(scores.shape)}")
        gap = r[:, :, None] - r[:, None, :]  # gap[b, k, i] = r_k - r_i = 1 / T_k^i
        if bool((torch.triu(gap, diagonal=1) < 0).any()):
            raise ValueError("rewards must be non-increasing along each row (candidates ranked best first)")
        upper = torch.triu(torch.ones(n, n, dtype=torch.bool, device=scores.device), diagonal=1)
        # T_k^k = min_i T_k^i, i.e. 1/T_k^k is the largest gap to a worse candidate
        diag = torch.where(upper, gap, torch.full_like(gap, -torch.inf)).amax(-1)
        inv_t = torch.where(upper, gap, torch.zeros_like(gap))
        inv_t = inv_t + torch.diag_embed(torch.where(torch.isfinite(diag), diag, torch.ones_like(diag)))
    loss = scores.new_zeros(scores.shape[0])
    for k in range(n - 1):
        logits = scores[:, k:] * inv_t[:, k, k:]
        loss = loss - (logits[:, 0] - torch.logsumexp(logits, dim=1))
    return _reduce(loss, reduction)


def sppo_loss(logp, logp_t, p_hat, *, eta: float, reduction: str = "mean") -> torch.Tensor:
    """SPPO: ``(logp - logp_t - eta * (p_hat - 1/2))^2`` per sampled response.

    ``logp_t`` is the log-probability under the current iterate ``pi_t`` and ``p_hat`` the
    estimated win probability of the response against ``pi_t``; the tabular minimiser is the
    multiplicative-weights step ``pi_t exp(eta (P - 1/2))`` (normalisation is absorbed when the
    win probabilities are centred)."""
    eta = positive_float("eta", eta)
    p_hat = torch.as_tensor(p_hat, dtype=logp.dtype, device=logp.device)
    _same_shape(logp, logp_t, p_hat)
    return _reduce((logp - logp_t - eta * (p_hat - 0.5)) ** 2, reduction)


def nll_loss(logp, *, reduction: str = "mean") -> torch.Tensor:
    """Negative log-likelihood ``-logp`` (maximum likelihood / SFT)."""
    return _reduce(-logp, reduction)


# ---------------------------------------------------------------------------- numpy tools

def bradley_terry_label(r_a, r_b, rng: np.random.Generator) -> np.ndarray:
    """Draw preference labels: True where ``a`` is preferred, with probability ``sigmoid(r_a - r_b)``."""
    r_a, r_b = np.asarray(r_a, dtype=float), np.asarray(r_b, dtype=float)
    if r_a.shape != r_b.shape:
        raise ValueError(f"r_a shape {r_a.shape} differs from r_b shape {r_b.shape}")
    return rng.random(r_a.shape) < expit(r_a - r_b)


def _check_last_axis(a, b, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim < 1:
        raise ValueError(f"{names[0]} shape {a.shape} and {names[1]} shape {b.shape} must match, last axis = responses")
    return a, b


def kl_regularised_optimal_policy(ref_logprobs, reward, *, beta: float) -> np.ndarray:
    """``pi*(y) ∝ pi_ref(y) exp(r(y) / beta)`` over the last axis: the maximiser of
    ``E_pi[r] - beta KL(pi || pi_ref)``; probabilities, same shape as the inputs."""
    beta = positive_float("beta", beta)
    ref_logprobs, reward = _check_last_axis(ref_logprobs, reward, ("ref_logprobs", "reward"))
    return softmax(ref_logprobs + reward / beta, axis=-1)


def statistical_rejection_sampler(rewards, n_accept: int, *, beta: float, rng: np.random.Generator) -> np.ndarray:
    """RSO's rejection sampler (Algorithm 1) over candidates drawn from the SFT policy.

    Sweeps the remaining candidates, accepting each with probability
    ``exp((r - max r) / beta)`` (max over the remaining candidates), removes accepted ones,
    and repeats until ``n_accept`` are taken. With many candidates the accepted draws follow
    ``pi_sft exp(r / beta)`` normalised. Returns the accepted indices, in acceptance order.
    """
    rewards = np.asarray(rewards, dtype=float)
    if rewards.ndim != 1 or rewards.size == 0:
        raise ValueError("rewards must be a non-empty 1-D array (one per candidate)")
    n_accept = positive_int("n_accept", n_accept)
    beta = positive_float("beta", beta)
    if n_accept > rewards.size:
        raise ValueError(f"n_accept ({n_accept}) exceeds the number of candidates ({rewards.size})")
    remaining = list(range(rewards.size))
    accepted: list[int] = []
    while len(accepted) < n_accept:
        top = rewards[remaining].max()
        taken = []
        for i in remaining:
            if rng.random() < np.exp((rewards[i] - top) / beta):
                accepted.append(i)
                taken.append(i)
                if len(accepted) == n_accept:
                    break
        remaining = [i for i in remaining if i not in taken]
    return np.asarray(accepted, dtype=int)


def expected_reward(probs, reward) -> np.ndarray:
    """``E_{y ~ probs}[r(y)]`` over the last axis."""
    probs, reward = _check_last_axis(probs, reward, ("probs", "reward"))
    return (probs * reward).sum(-1)


def win_rate(probs, base_probs, reward) -> np.ndarray:
    """Exact win rate ``P(r(y) > r(y')) + 0.5 P(r(y) = r(y'))``, ``y ~ probs``, ``y' ~ base_probs``,
    over the last axis (responses)."""
    probs, base_probs = _check_last_axis(probs, base_probs, ("probs", "base_probs"))
    _, reward = _check_last_axis(probs, reward, ("probs", "reward"))
    diff = reward[..., :, None] - reward[..., None, :]
    score = np.where(diff > 0, 1.0, np.where(diff == 0, 0.5, 0.0))
    return np.einsum("...i,...ij,...j->...", probs, score, base_probs)


def _check_game(P) -> np.ndarray:
    P = np.asarray(P, dtype=float)
    if P.ndim != 2 or P.shape[0] != P.shape[1]:
        raise ValueError(f"P must be a square (K, K) preference matrix, got shape {P.shape}")
    if not np.allclose(P + P.T, 1.0, atol=1e-8) or P.min() < 0 or P.max() > 1:
        raise ValueError("P must hold probabilities with P + P.T = 1 (a constant-sum preference game)")
    return P


def nash_equilibrium(P) -> np.ndarray:
    """A mixed Nash (von Neumann winner) strategy of the symmetric game with payoff ``P(y > y')``.

    Solves ``max_pi min_j sum_i pi_i P_ij`` by linear programming (scipy's HiGHS); the value
    is 1/2 for a constant-sum game. Returns ``pi``, shape ``(K,)``.
    """
    P = _check_game(P)
    K = P.shape[0]
    # variables (pi_1..pi_K, v); maximise v s.t. P^T pi >= v, sum pi = 1, pi >= 0
    c = np.r_[np.zeros(K), -1.0]
    A_ub = np.c_[-P.T, np.ones(K)]
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(K), A_eq=np.r_[np.ones(K), 0.0][None],
                  b_eq=[1.0], bounds=[(0, None)] * K + [(None, None)], method="highs")
    if not res.success:
        raise RuntimeError(f"linprog failed: {res.message}")
    pi = np.clip(res.x[:K], 0.0, None)
    return pi / pi.sum()


def exploitability(pi, P) -> float:
    """``max_y P(y > pi) - 1/2``: how much the best pure response beats ``pi``; 0 exactly at a Nash point."""
    P = _check_game(P)
    pi = np.asarray(pi, dtype=float)
    if pi.shape != (P.shape[0],) or pi.min() < -1e-12 or not np.isclose(pi.sum(), 1.0):
        raise ValueError(f"pi must be a probability vector of length {P.shape[0]}")
    return float((P @ pi).max() - 0.5)


def ches_score(h_plus, h_minus, *, normalise: bool = False) -> float:
    """Centred hidden-embedding similarity ``<sum h+, sum h-> - ||sum h+||^2``.

    ``h_plus`` (Tp, d) and ``h_minus`` (Tm, d) are the hidden states that predict each token
    of the preferred and dispreferred response. ``normalise=True`` uses means instead of sums
    (the length-normalised score). Larger values predict a larger drop of ``log p(y+)``
    under DPO (likelihood displacement).
    """
    h_plus = np.atleast_2d(np.asarray(h_plus, dtype=float))
    h_minus = np.atleast_2d(np.asarray(h_minus, dtype=float))
    if h_plus.ndim != 2 or h_minus.ndim != 2 or h_plus.shape[1] != h_minus.shape[1]:
        raise ValueError("h_plus and h_minus must be (T, d) arrays with the same width d")
    reduce = np.mean if normalise else np.sum
    a, b = reduce(h_plus, axis=0), reduce(h_minus, axis=0)
    return float(a @ b - a @ a)


class ContextualSoftmaxPolicy(nn.Module):
    """Policy over ``K`` candidate responses per prompt, ``log_softmax(base_logits + x W y^T)``.

    ``W`` (x_dim, y_dim) starts at zero, so a fresh policy equals the base policy whose
    logits are passed in; ``policy(x (N, dx), y (N, K, dy), base_logits (N, K))`` returns
    log-probabilities ``(N, K)``.
    """

    def __init__(self, x_dim: int, y_dim: int):
        super().__init__()
        self.W = nn.Parameter(torch.zeros(positive_int("x_dim", x_dim), positive_int("y_dim", y_dim)))

    def forward(self, x: torch.Tensor, y: torch.Tensor, base_logits: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or y.dim() != 3 or base_logits.dim() != 2:
            raise ValueError("expected x (N, dx), y (N, K, dy), base_logits (N, K)")
        if x.shape[1] != self.W.shape[0] or y.shape[2] != self.W.shape[1]:
            raise ValueError(f"feature widths ({x.shape[1]}, {y.shape[2]}) differ from W {tuple(self.W.shape)}")
        if y.shape[:2] != base_logits.shape or x.shape[0] != y.shape[0]:
            raise ValueError("x, y and base_logits disagree on N or K")
        return torch.log_softmax(base_logits + torch.einsum("nd,de,nke->nk", x, self.W, y), dim=-1)
