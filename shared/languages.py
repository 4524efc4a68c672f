"""Synthetic languages with known likelihoods and rewards, for tiny language models.

:class:`PreferenceLanguage`: prompts of ``P`` tokens, responses of ``L`` tokens, a true reward
that is the mean of a prompt-dependent weight per response token, a Markov-chain base policy
(the 'pretraining corpus', exact log-likelihood known) and an 'expert' policy that favours
high-reward tokens. Token ids ``0 .. vocab_size-1`` are response tokens and
``vocab_size .. vocab_size + n_prompt_tokens - 1`` are prompt tokens, so one model vocabulary
of ``n_tokens`` ids covers both.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.special import log_softmax

from .validation import positive_float, positive_int


class PreferenceLanguage:
    """Prompt -> response language whose true reward and base likelihood are exact.

    Parameters
    ----------
    n_prompts : int
        Number of distinct prompts (index ``0 .. n_prompts-1``).
    vocab_size : int
        Response tokens ``V``.
    response_length, prompt_length : int
        ``L`` and ``P``; a model needs ``block_size >= P + L``.
    n_prompt_tokens : int
        Size of the prompt alphabet.
    prompt_strength : float
        Weight of the reward direction in the base policy's logits: small values make the
        base corpus broad and only weakly prompt-dependent.
    seed : int
        Seed of the language itself (prompts, weights, base chain), independent of any
        sampling generator.

    Attributes
    ----------
    prompts : (n_prompts, P) int array of prompt token ids.
    token_reward : (n_prompts, V) float array ``w_x``: standardised per prompt, a fixed random
        linear function of the prompt's tokens (so a model can learn it from the prompt).
    base_start : (n_prompts, V) log-probabilities of the first response token.
    base_transition : (n_prompts, V, V) log-probabilities of ``y_t`` given ``y_{t-1}``.
    """

    def __init__(self, n_prompts: int, *, vocab_size: int = 24, response_length: int = 8,
                 prompt_length: int = 4, n_prompt_tokens: int = 16, prompt_strength: float = 0.5,
                 seed: int = 0):
        self.n_prompts = positive_int("n_prompts", n_prompts)
        self.vocab_size = positive_int("vocab_size", vocab_size)
        self.response_length = positive_int("response_length", response_length)
        self.prompt_length = positive_int("prompt_length", prompt_length)
        self.n_prompt_tokens = positive_int("n_prompt_tokens", n_prompt_tokens)
        self.prompt_strength = positive_float("prompt_strength", prompt_strength)
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, got {vocab_size}")
        rng = np.random.default_rng(seed)
        V, K = vocab_size, n_prompt_tokens
        self.prompts = vocab_size + rng.integers(K, size=(n_prompts, prompt_length))
        embed = rng.normal(size=(K, V))
        w = embed[self.prompts - vocab_size].sum(1)
        self.token_reward = (w - w.mean(1, keepdims=True)) / w.std(1, keepdims=True)
        # a prompt-independent Markov chain plus a weak pull toward the prompt's good tokens
        chain = rng.normal(scale=1.5, size=(V + 1, V))
        bias = prompt_strength * self.token_reward
        self.base_start = log_softmax(chain[V][None] + bias, axis=-1)
        self.base_transition = log_softmax(chain[None, :V] + bias[:, None], axis=-1)

    # ---------------------------------------------------------------- sizes
    @property
    def n_tokens(self) -> int:
        """Model vocabulary: response plus prompt tokens."""
        return self.vocab_size + self.n_prompt_tokens

    @property
    def response_tokens(self) -> torch.Tensor:
        """Ids a response may hold, ``0 .. vocab_size-1``: the ``allowed_tokens`` of
        :func:`shared.lm.sample_sequences` and :func:`shared.lm.sequence_logprob`."""
        return torch.arange(self.vocab_size)

    @property
    def block_size(self) -> int:
        """Length of a prompt-plus-response sequence."""
        return self.prompt_length + self.response_length

    # ---------------------------------------------------------------- checks
    def _idx(self, prompt_idx) -> np.ndarray:
        idx = np.asarray(prompt_idx)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError("prompt_idx must be a 1-D integer array")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_prompts):
            raise ValueError(f"prompt indices must lie in [0, {self.n_prompts})")
        return idx

    def _responses(self, idx: np.ndarray, responses) -> np.ndarray:
        y = np.asarray(responses.cpu() if isinstance(responses, torch.Tensor) else responses)
        if y.shape != (idx.size, self.response_length) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"responses must be an integer array of shape ({idx.size}, {self.response_length})")
        if y.size and (y.min() < 0 or y.max() >= self.vocab_size):
            raise ValueError(f"response tokens must lie in [0, {self.vocab_size})")
        return y

    # ---------------------------------------------------------------- reward and base policy
    def reward(self, prompt_idx, responses) -> np.ndarray:
        """True reward ``r(x, y) = mean_t w_x[y_t]``, shape ``(N,)``."""
        idx = self._idx(prompt_idx)
        y = self._responses(idx, responses)
        return self.token_reward[idx[:, None], y].mean(1)

    def base_logprob(self, prompt_idx, responses) -> np.ndarray:
        """Exact ``log pi_base(y | x)`` of each response, shape ``(N,)``."""
        idx = self._idx(prompt_idx)
        y = self._responses(idx, responses)
        out = self.base_start[idx, y[:, 0]]
        for t in range(1, self.response_length):
            out = out + self.base_transition[idx, y[:, t - 1], y[:, t]]
        return out

    def sample_base(self, prompt_idx, rng: np.random.Generator) -> np.ndarray:
        """Responses ``(N, L)`` drawn from the base policy."""
        idx = self._idx(prompt_idx)
        y = np.empty((idx.size, self.response_length), dtype=np.int64)
        y[:, 0] = _draw(np.exp(self.base_start[idx]), rng)
        for t in range(1, self.response_length):
            y[:, t] = _draw(np.exp(self.base_transition[idx, y[:, t - 1]]), rng)
        return y

    def expert_logprobs(self, *, strength: float = 2.0) -> np.ndarray:
        """Per-token log-probabilities ``(n_prompts, V)`` of the expert, ``softmax(strength * w_x)``."""
        return log_softmax(positive_float("strength", strength) * self.token_reward, axis=-1)

    def sample_expert(self, prompt_idx, rng: np.random.Generator, *, strength: float = 2.0) -> np.ndarray:
        """Responses ``(N, L)`` with tokens i.i.d. from ``softmax(strength * w_x)``: a stronger
        policy than the base, standing in for responses of a better model."""
        idx = self._idx(prompt_idx)
        p = np.exp(self.expert_logprobs(strength=strength))[idx]
        return np.stack([_draw(p, rng) for _ in range(self.response_length)], axis=1)

    # ---------------------------------------------------------------- model inputs
    def sequences(self, prompt_idx, responses) -> torch.Tensor:
        """Model input ``(N, P + L)``: prompt tokens then response tokens (torch.long)."""
        idx = self._idx(prompt_idx)
        y = self._responses(idx, responses)
        return torch.as_tensor(np.concatenate([self.prompts[idx], y], axis=1), dtype=torch.long)

    def prompt_tokens(self, prompt_idx) -> torch.Tensor:
        """Prompt prefixes ``(N, P)`` for :func:`shared.lm.sample_sequences`."""
        return torch.as_tensor(self.prompts[self._idx(prompt_idx)], dtype=torch.long)

    def response_mask(self, n: int) -> torch.Tensor:
        """``(n, P + L)`` bool mask, True on the response positions."""
        mask = torch.zeros(positive_int("n", n), self.block_size, dtype=torch.bool)
        mask[:, self.prompt_length:] = True
        return mask


def _draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of ``probs`` (N, V) by inverse CDF."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random((probs.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((u > cdf).sum(1), probs.shape[1] - 1)
