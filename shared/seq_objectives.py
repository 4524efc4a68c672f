"""Sequence-level training objectives that replace or extend token maximum likelihood.

- :func:`emd_token_loss`: EMO's earth mover distance between the model's next-token
  distribution and the one-hot data token, under a cosine cost between token embeddings;
- :func:`eisl_ngram_loss`: the edit-invariant sequence loss, n-gram log-likelihoods matched
  at any output offset;
- :func:`iq_learn_chi2_loss`: the IQ-Learn objective with chi-squared regularisation that
  SequenceMatch applies to logits read as soft Q-values;
- :func:`scheduled_sampling_inputs`: gold inputs with some positions replaced by the model's
  own tokens (batch-scheduled sampling);
- :func:`trice_loss`, :func:`star_loss`: latent-rationale training, TRICE's control-variate
  gradient and STaR's keep-the-correct-ones rule.

All take and return torch tensors and are differentiable in the logits / log-likelihoods.
Shapes: ``B`` sequences, ``T`` or ``L`` positions, vocabulary ``V``. Losses are in nats.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .validation import positive_float

_REDUCTIONS = ("mean", "none")


def _reduce(per_item: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; valid: {', '.join(_REDUCTIONS)}")
    return per_item.mean() if reduction == "mean" else per_item


def emd_token_loss(logits: torch.Tensor, targets: torch.Tensor, embeddings, *,
                   reduction: str = "mean") -> torch.Tensor:
    """EMO's differentiable earth mover distance per position (Ren et al. 2024, eq. DEMD).

    With cost ``C(v_i, v_j) = 1 - cos(e_i, e_j)`` and a one-hot data distribution on ``y``,
    the only transport plan moves all of ``q = softmax(logits)`` onto ``y``, so

        DEMD = sum_i q_i C(v_i, y) = 1 - < sum_i q_i e^_i , e^_y >,   e^ = e / ||e||.

    Parameters
    ----------
    logits : (..., V) tensor
    targets : (...) long tensor of data token ids
    embeddings : (V, d) tensor or array
        Frozen token geometry (rows need not be normalised); no gradient flows into it.
    reduction : "mean" or "none" (per position, shape ``(...)``)
    """
    emb = torch.as_tensor(embeddings, dtype=logits.dtype, device=logits.device).detach()
    if emb.dim() != 2 or emb.shape[0] != logits.shape[-1]:
        raise ValueError(f"embeddings must have shape (V, d) with V = {logits.shape[-1]}, got {tuple(emb.shape)}")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets shape {tuple(targets.shape)} must equal logits shape without V, "
                         f"{tuple(logits.shape[:-1])}")
    unit = F.normalize(emb, dim=1)
    expected = logits.softmax(-1) @ unit          # (..., d): model-average embedding
    return _reduce(1.0 - (expected * unit[targets]).sum(-1), reduction)


_POOLINGS = ("gumbel", "softmax", "max")


def eisl_ngram_loss(logprobs: torch.Tensor, targets: torch.Tensor, *, ngrams=(1, 2, 3), weights=None,
                    pooling: str = "gumbel", tau: float = 1.0, generator: torch.Generator | None = None,
                    floor: float = -20.0, reduction: str = "mean") -> torch.Tensor:
    """Edit-invariant sequence loss (Liu et al. 2022; official code guangyliu/EISL).

    ``C[i, j] = log p(y_j | output position i)`` (clamped below at ``floor``); for each n-gram
    size the identity-kernel convolution ``S^n[i, j] = (1/n) sum_k C[i+k, j+k]`` is the mean
    log-likelihood of target n-gram ``j`` placed at output offset ``i``. Offsets are pooled
    with weights ``w = softmax((S^n + g) / tau)`` over ``i`` (``g`` Gumbel noise for
    ``"gumbel"``, the official choice; ``g = 0`` for ``"softmax"``; a hard arg-max for
    ``"max"``), giving ``sum_i w_i S^n[i, j]``; that is averaged over target n-grams ``j``
    and combined over sizes with ``weights`` (equal by default). The loss is minus the result.

    Parameters
    ----------
    logprobs : (B, L, V) tensor of output log-probabilities
    targets : (B, L') long tensor
    ngrams : sizes n; those longer than ``min(L, L')`` are skipped
    reduction : "mean" over sequences, or "none" for ``(B,)``
    """
    if pooling not in _POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; valid: {', '.join(_POOLINGS)}")
    tau = positive_float("tau", tau)
    if logprobs.dim() != 3 or targets.dim() != 2 or targets.shape[0] != logprobs.shape[0]:
        raise ValueError("logprobs must be (B, L, V) and targets (B, L') with the same B")
    B, L, _ = logprobs.shape
    Lt = targets.shape[1]
    ngrams = [int(n) for n in ngrams]
    if not ngrams or min(ngrams) < 1:
        raise ValueError(f"ngrams must be positive sizes, got {ngrams}")
    weights = [1.0 / len(ngrams)] * len(ngrams) if weights is None else [float(w) for w in weights]
    if len(weights) != len(ngrams):
        raise ValueError(f"weights ({len(weights)}) must match ngrams ({len(ngrams)})")
    cost = logprobs.clamp(min=floor).gather(2, targets[:, None, :].expand(B, L, Lt))[:, None]
    total = logprobs.new_zeros(B)
    for n, w in zip(ngrams, weights):
        if n > min(L, Lt):
            continue
        eye = torch.eye(n, dtype=cost.dtype, device=cost.device)[None, None]
        score = F.conv2d(cost, eye)[:, 0] / n          # (B, L-n+1, L'-n+1)
        if pooling == "max":
            pool = F.one_hot(score.argmax(1), score.shape[1]).transpose(1, 2).to(score.dtype)
        else:
            noise = 0.0
            if pooling == "gumbel":
                u = torch.rand(score.shape, generator=generator, dtype=score.dtype).to(score.device)
                expo = (-torch.log(u.clamp(min=1e-20))).clamp(min=1e-20)   # Exp(1) draw
                noise = -torch.log(expo)
            pool = ((score + noise) / tau).softmax(1)
        total = total + w * (pool * score).sum(1).mean(1)
    return _reduce(-total, reduction)


def _soft_q_transitions(logits, actions, mask, alive, gamma):
    """Implicit rewards ``r = Q(s,a) - gamma V(s')`` and ``V(s) - gamma V(s')`` at masked steps."""
    alive = mask if alive is None else torch.as_tensor(alive)
    if logits.dim() != 3 or actions.shape != logits.shape[:2] or mask.shape != logits.shape[:2] \
            or alive.shape != logits.shape[:2]:
        raise ValueError("logits must be (B, T, V) with actions, mask and alive (B, T)")
    mask, alive = mask.to(torch.bool), alive.to(torch.bool)
    value = torch.logsumexp(logits, dim=-1)                                   # V(s_t)
    q = logits.gather(-1, actions[..., None].long()).squeeze(-1)              # Q(s_t, a_t)
    nxt_valid = torch.cat([alive[:, 1:], torch.zeros_like(alive[:, :1])], dim=1)
    v_next = torch.cat([value[:, 1:], torch.zeros_like(value[:, :1])], dim=1)
    v_next = torch.where(nxt_valid, v_next, torch.zeros_like(v_next))         # terminal: V = 0
    return (q - gamma * v_next)[mask], (value - gamma * v_next)[mask]


def iq_learn_chi2_loss(logits: torch.Tensor, actions: torch.Tensor, mask, *, alive=None, policy_logits=None,
                       policy_actions=None, policy_mask=None, policy_alive=None, alpha: float = 1.0,
                       gamma: float = 1.0, mix: float = 0.5) -> torch.Tensor:
    """IQ-Learn loss with chi-squared regularisation, logits read as soft Q-values.

    State ``s_t`` is the prefix before position ``t``, action ``a_t = actions[:, t]``;
    ``Q(s_t, a) = logits[:, t, a]`` and ``V(s_t) = logsumexp_a Q(s_t, a)`` (the policy is
    ``softmax(Q)``). The next state's value is ``V(s_{t+1})`` where ``alive[:, t+1]``, else 0
    (end of sequence); ``alive`` defaults to ``mask``, and differs from it when a transition
    inside a sequence is not scored (e.g. a wrong token later deleted by a backspace) while
    its state still has a value. With ``r = Q(s, a) - gamma V(s')``::

        loss = -E_data[r] + E_mix[V(s) - gamma V(s')] + 1/(4 alpha) E_mix[r^2],

    ``E_mix = mix E_data + (1 - mix) E_policy`` over transitions of the data batch and of the
    model-generated batch (``policy_*``), or ``E_data`` alone when none is given. Per
    transition ``-r + V(s) - gamma V(s') = -log softmax(Q)(a)``, so with ``alpha = inf`` and
    data only this is exactly the token NLL: MLE is the KL member of the family.

    Parameters
    ----------
    logits : (B, T, V); actions : (B, T) long; mask : (B, T) bool, True at scored transitions
    alive : (B, T) bool or None, True at positions whose state has a value (default ``mask``)
    policy_logits, policy_actions, policy_mask, policy_alive : the same for model-generated sequences
    alpha : float > 0 (``math.inf`` drops the chi-squared term)
    gamma : discount in (0, 1]
    mix : weight of the data batch in ``E_mix``, in [0, 1]
    """
    if not (isinstance(alpha, (int, float)) and alpha > 0):
        raise ValueError(f"alpha must be a positive number (math.inf allowed), got {alpha!r}")
    if not 0 < float(gamma) <= 1:
        raise ValueError(f"gamma must lie in (0, 1], got {gamma!r}")
    if not 0 <= float(mix) <= 1:
        raise ValueError(f"mix must lie in [0, 1], got {mix!r}")
    given = [policy_logits is not None, policy_actions is not None, policy_mask is not None]
    if any(given) and not all(given):
        raise ValueError("policy_logits, policy_actions and policy_mask must be given together")
    r_d, dv_d = _soft_q_transitions(logits, actions, torch.as_tensor(mask), alive, gamma)
    if r_d.numel() == 0:
        raise ValueError("mask selects no data transition")
    chi = 0.0 if math.isinf(alpha) else 1.0 / (4.0 * alpha)
    if all(given):
        r_p, dv_p = _soft_q_transitions(policy_logits, policy_actions, torch.as_tensor(policy_mask),
                                        policy_alive, gamma)
        if r_p.numel() == 0:
            raise ValueError("policy_mask selects no policy transition")
        e_dv = mix * dv_d.mean() + (1 - mix) * dv_p.mean()
        e_r2 = mix * r_d.pow(2).mean() + (1 - mix) * r_p.pow(2).mean()
    else:
        e_dv, e_r2 = dv_d.mean(), r_d.pow(2).mean()
    return -r_d.mean() + e_dv + chi * e_r2


def scheduled_sampling_inputs(gold: torch.Tensor, model_tokens: torch.Tensor, rho: float, *,
                              generator: torch.Generator | None = None, mask=None) -> torch.Tensor:
    """Mix gold and model tokens: each position (where ``mask``) takes the model's token w.p. ``rho``.

    ``gold`` and ``model_tokens`` are ``(B, T)`` long tensors; the targets of the training
    step stay the gold tokens, only the inputs change (batch-scheduled sampling, BASH).
    """
    if gold.shape != model_tokens.shape:
        raise ValueError(f"gold {tuple(gold.shape)} and model_tokens {tuple(model_tokens.shape)} differ in shape")
    if not 0 <= float(rho) <= 1:
        raise ValueError(f"rho must lie in [0, 1], got {rho!r}")
    take = torch.rand(gold.shape, generator=generator).to(gold.device) < float(rho)
    if mask is not None:
        mask = torch.as_tensor(mask, dtype=torch.bool, device=gold.device)
        if mask.shape != gold.shape:
            raise ValueError(f"mask shape {tuple(mask.shape)} differs from gold shape {tuple(gold.shape)}")
        take &= mask
    return torch.where(take, model_tokens, gold)


def _check_batch(logp: torch.Tensor, correct) -> torch.Tensor:
    correct = torch.as_tensor(correct, dtype=torch.bool, device=logp.device)
    if logp.dim() != 1 or correct.shape != logp.shape:
        raise ValueError("log-likelihoods and proposal_correct must be 1-D of the same length")
    return correct


def trice_loss(logp_memory: torch.Tensor, logp_proposal: torch.Tensor, proposal_correct, *,
               control_variate: bool = True) -> torch.Tensor:
    """Surrogate whose gradient is TRICE's estimator (Phan et al. 2023).

    ``logp_memory[i] = log p(z_i, y_i | x_i)`` for the rationale held in memory *after* the
    independence Metropolis-Hastings step (the fresh proposal replaces it when it reaches the
    right answer); ``logp_proposal[i] = log p(z~_i, y~_i | x_i)`` for the proposal with the
    model's *own* answer, whose score has mean zero under the model. The gradient is::

        (1/B) sum_i [ grad log p(z_i, y_i | x_i) - beta_i grad log p(z~_i, y~_i | x_i) ],

    ``beta_i`` the leave-one-out mean of ``proposal_correct`` (no gradient): as the model
    becomes accurate the memory equals the proposal, ``beta -> 1`` and the two terms cancel;
    a wrong proposal is pushed down. ``control_variate=False`` drops the second term.
    """
    correct = _check_batch(logp_memory, proposal_correct)
    if logp_proposal.shape != logp_memory.shape:
        raise ValueError("logp_memory and logp_proposal must have the same shape")
    if not control_variate:
        return -logp_memory.mean()
    B = logp_memory.shape[0]
    if B < 2:
        raise ValueError("the leave-one-out control variate needs a batch of at least 2")
    c = correct.to(logp_memory.dtype)
    beta = (c.sum() - c) / (B - 1)
    return -(logp_memory - beta.detach() * logp_proposal).mean()


def star_loss(logp_proposal: torch.Tensor, proposal_correct) -> torch.Tensor:
    """STaR (Zelikman et al. 2022): minus the mean log-likelihood of the proposals that reach
    the right answer; 0 (still differentiable) when none does."""
    correct = _check_batch(logp_proposal, proposal_correct)
    n = int(correct.sum())
    kept = torch.where(correct, logp_proposal, torch.zeros_like(logp_proposal)).sum()
    return -kept / max(n, 1)
