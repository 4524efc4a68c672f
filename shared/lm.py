"""A tiny causal language model and the likelihood pieces built on it.

- :class:`TinyGPT`: a pre-LN causal transformer small enough to train on a CPU in seconds;
  it returns next-token logits and, on request, the final hidden states;
- :func:`token_logprobs`: ``log p(x_t | x_<t)`` for every position after the first;
- :func:`sequence_logprob`: the summed (or length-averaged) log-likelihood of the masked
  positions, e.g. a response given its prompt;
- :func:`sample_sequences`: continuation of given prefixes with temperature / top-k, and
  the log-probability of each drawn token under the distribution it was drawn from;
- :func:`train_nll`: maximum-likelihood (supervised) fine-tuning on masked positions.

Shapes: ``B`` sequences of ``T`` tokens, vocabulary ``V``, width ``d``. Token ids are
``torch.long``; log-probabilities are natural-log float32. Every random draw (weights,
mini-batches, samples) comes from a seed or a ``torch.Generator`` given by the caller.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .validation import positive_float, positive_int


class _Block(nn.Module):
    """Pre-LN transformer block: causal self-attention then an MLP, both residual."""

    def __init__(self, d_model: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                 nn.Linear(4 * d_model, d_model))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        B, T, d = h.shape
        q, k, v = self.qkv(self.ln1(h)).split(d, dim=2)
        shape = (B, T, self.n_head, d // self.n_head)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        h = h + self.proj(att.transpose(1, 2).reshape(B, T, d))
        return h + self.mlp(self.ln2(h))


class TinyGPT(nn.Module):
    """Causal transformer language model (GPT-2 layout, pre-LN, no dropout).

    Parameters
    ----------
    vocab_size : int
        Number of token ids ``V``.
    block_size : int
        Longest sequence the learned position embedding covers.
    n_layer, n_head, d_model : int
        Depth, attention heads and width; ``d_model`` must be divisible by ``n_head``.
    seed : int or None
        Seed of the initial weights (``None``: the global torch state).

    ``model(tokens)`` maps ``(B, T)`` token ids to ``(B, T, V)`` next-token logits;
    ``model(tokens, return_hidden=True)`` also returns the final layer-normed hidden states
    ``(B, T, d)``, with ``logits = hidden @ model.unembedding.T``.
    """

    def __init__(self, vocab_size: int, block_size: int, *, n_layer: int = 2, n_head: int = 2,
                 d_model: int = 32, seed: int | None = None):
        super().__init__()
        self.vocab_size = positive_int("vocab_size", vocab_size)
        self.block_size = positive_int("block_size", block_size)
        positive_int("n_layer", n_layer)
        positive_int("n_head", n_head)
        positive_int("d_model", d_model)
        if d_model % n_head:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_head ({n_head})")
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(block_size, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.dim() < 2:
                    continue
                # GPT-2 initialisation, residual projections scaled down with depth
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith(("proj.weight", "mlp.2.weight")) else 0.02
                p.copy_(torch.randn(p.shape, generator=gen) * std)
            for name, p in self.named_parameters():
                if name.endswith("bias"):
                    p.zero_()

    @property
    def unembedding(self) -> torch.Tensor:
        """Output matrix ``(V, d)``: the logit of token ``v`` is ``<hidden, unembedding[v]>``."""
        return self.head.weight

    def forward(self, tokens: torch.Tensor, return_hidden: bool = False):
        tokens = _check_tokens(tokens, self)
        T = tokens.shape[1]
        h = self.tok(tokens) + self.pos(torch.arange(T, device=tokens.device))
        for block in self.blocks:
            h = block(h)
        h = self.ln_f(h)
        logits = self.head(h)
        return (logits, h) if return_hidden else logits


def _check_tokens(tokens, model: TinyGPT) -> torch.Tensor:
    if not isinstance(tokens, torch.Tensor) or tokens.dtype != torch.long or tokens.dim() != 2:
        raise ValueError("tokens must be a (B, T) torch.long tensor")
    if tokens.shape[1] > model.block_size:
        raise ValueError(f"sequence length {tokens.shape[1]} exceeds block_size {model.block_size}")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= model.vocab_size):
        raise ValueError(f"token ids must lie in [0, {model.vocab_size})")
    return tokens


def _allowed_mask(allowed_tokens, model: TinyGPT, device) -> torch.Tensor | None:
    """``(V,)`` bool mask of the tokens a restricted model may emit (None: all)."""
    if allowed_tokens is None:
        return None
    ids = torch.as_tensor(allowed_tokens, dtype=torch.long).ravel()
    if ids.numel() == 0 or int(ids.min()) < 0 or int(ids.max()) >= model.vocab_size:
        raise ValueError(f"allowed_tokens must be a non-empty set of token ids in [0, {model.vocab_size})")
    mask = torch.zeros(model.vocab_size, dtype=torch.bool)
    mask[ids] = True
    return mask.to(device)


def _next_token_logprobs(logits: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    if allowed is not None:
        # constrained decoding: the model's distribution renormalised over the allowed tokens
        logits = logits.masked_fill(~allowed, float("-inf"))
    return F.log_softmax(logits, dim=-1)


def token_logprobs(model: TinyGPT, tokens: torch.Tensor, *, allowed_tokens=None) -> torch.Tensor:
    """``log p(tokens[:, t] | tokens[:, :t])`` for ``t = 1 .. T-1``, shape ``(B, T-1)``.

    Differentiable in the model's parameters; the first token is never scored (it is
    conditioned on nothing). ``allowed_tokens`` (a sequence of ids) renormalises every
    next-token distribution over those ids, the constrained model that
    ``sample_sequences(..., allowed_tokens=...)`` draws from; a token outside them scores
    ``-inf``.
    """
    logits = model(tokens)
    logp = _next_token_logprobs(logits[:, :-1], _allowed_mask(allowed_tokens, model, tokens.device))
    return logp.gather(-1, tokens[:, 1:, None]).squeeze(-1)


def sequence_logprob(model: TinyGPT, tokens: torch.Tensor, mask, *, average: bool = False,
                     allowed_tokens=None) -> torch.Tensor:
    """Log-likelihood of the masked positions of each sequence, shape ``(B,)``.

    Parameters
    ----------
    tokens : (B, T) long tensor
        Whole sequences, e.g. prompt followed by response.
    mask : (B, T) bool tensor
        True at the positions to score (the response); ``mask[:, 0]`` must be False since the
        first token has no conditional.
    average : bool
        Divide by the number of scored positions: the length-normalised log-likelihood
        ``(1/|y|) sum_t log p(y_t | x, y_<t)`` used by ORPO, ASFT, PRO and SimPO-type losses.
    allowed_tokens : sequence of int or None
        Score under the model restricted to these ids (see :func:`token_logprobs`); only the
        masked positions need to hold allowed tokens.
    """
    mask = torch.as_tensor(mask, dtype=torch.bool, device=tokens.device)
    if mask.shape != tokens.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} differs from tokens shape {tuple(tokens.shape)}")
    if bool(mask[:, 0].any()):
        raise ValueError("mask[:, 0] must be False: the first token has no conditional to score")
    m = mask[:, 1:]
    lp = token_logprobs(model, tokens, allowed_tokens=allowed_tokens)
    # where, not a product: an unscored prompt token outside allowed_tokens has log-prob -inf
    total = torch.where(m, lp, torch.zeros_like(lp)).sum(1)
    if not average:
        return total
    count = m.sum(1)
    if bool((count == 0).any()):
        raise ValueError("average=True needs at least one masked position per sequence")
    return total / count


class Samples(NamedTuple):
    """Output of :func:`sample_sequences`."""

    tokens: torch.Tensor    # (B, P + n_new) prefix followed by the drawn tokens
    logprobs: torch.Tensor  # (B, n_new) log-probability of each drawn token under the sampling distribution


@torch.no_grad()
def sample_sequences(model: TinyGPT, prefix: torch.Tensor, n_new: int, *, temperature: float = 1.0,
                     top_k: int | None = None, generator: torch.Generator | None = None,
                     allowed_tokens=None) -> Samples:
    """Draw ``n_new`` tokens after each prefix, one at a time from the model.

    The next-token distribution is ``softmax(logits / temperature)`` over ``allowed_tokens``
    (all ids when ``None``; e.g. a language's response tokens, so no prompt token is ever
    emitted) restricted to the ``top_k`` largest of those logits (all when ``None``).
    ``logprobs`` are those of that distribution, so at temperature 1 without top-k they are
    the log-probabilities that ``sequence_logprob(..., allowed_tokens=...)`` gives.
    """
    prefix = _check_tokens(prefix, model)
    n_new = positive_int("n_new", n_new)
    temperature = positive_float("temperature", temperature)
    if prefix.shape[1] < 1:
        raise ValueError("prefix must hold at least one token per sequence")
    if prefix.shape[1] + n_new > model.block_size:
        raise ValueError(f"prefix length {prefix.shape[1]} + n_new {n_new} exceeds block_size {model.block_size}")
    if top_k is not None:
        top_k = positive_int("top_k", top_k)
        if top_k > model.vocab_size:
            raise ValueError(f"top_k ({top_k}) exceeds the vocabulary ({model.vocab_size})")
    allowed = _allowed_mask(allowed_tokens, model, prefix.device)
    if top_k is not None and allowed is not None and top_k > int(allowed.sum()):
        raise ValueError(f"top_k ({top_k}) exceeds the number of allowed tokens ({int(allowed.sum())})")
    was_training = model.training
    model.eval()
    tokens, drawn = prefix, []
    for _ in range(n_new):
        logits = model(tokens)[:, -1] / temperature
        if allowed is not None:
            logits = logits.masked_fill(~allowed, float("-inf"))
        if top_k is not None:
            kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        logp = F.log_softmax(logits, dim=-1)
        nxt = torch.multinomial(logp.exp(), 1, generator=generator)
        drawn.append(logp.gather(-1, nxt))
        tokens = torch.cat([tokens, nxt], dim=1)
    model.train(was_training)
    return Samples(tokens, torch.cat(drawn, dim=1))


def train_nll(model: TinyGPT, tokens: torch.Tensor, mask, *, steps: int, batch_size: int, lr: float,
              generator: torch.Generator | None = None, allowed_tokens=None) -> np.ndarray:
    """Maximum-likelihood fine-tuning in place: Adam on the token-mean masked NLL.

    Parameters
    ----------
    tokens : (N, T) long tensor
        Training sequences.
    mask : (N, T) bool tensor
        Positions whose token is a target (``mask[:, 0]`` False), e.g. the responses.
    steps, batch_size : int
        Optimiser steps and sequences per mini-batch (drawn with replacement through
        ``generator``).
    lr : float
        Adam learning rate.
    allowed_tokens : sequence of int or None
        Fit the model restricted to these ids (see :func:`token_logprobs`), the one that
        ``sample_sequences(..., allowed_tokens=...)`` draws from.

    Returns the per-step training losses, shape ``(steps,)`` (nats per token).
    """
    steps = positive_int("steps", steps)
    batch_size = positive_int("batch_size", batch_size)
    lr = positive_float("lr", lr)
    mask = torch.as_tensor(mask, dtype=torch.bool, device=tokens.device)
    if mask.shape != tokens.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} differs from tokens shape {tuple(tokens.shape)}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = tokens.shape[0]
    losses = np.empty(steps)
    model.train()
    for step in range(steps):
        idx = torch.randint(n, (batch_size,), generator=generator)
        m = mask[idx]
        lp = sequence_logprob(model, tokens[idx], m, allowed_tokens=allowed_tokens)
        loss = -lp.sum() / m[:, 1:].sum().clamp(min=1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[step] = float(loss.detach())
    return losses
