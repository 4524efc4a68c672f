"""Synthetic corpora with known truth, for training tiny sequence models.

- :class:`ClusteredMarkovLanguage`: words in clusters, a Markov chain over clusters and a
  Zipf law inside each cluster; exact next-token log-probabilities and exact support;
- :class:`Vocab`: a symbol <-> id table for small task alphabets (digits, operators, markers);
- digit tasks with an exact answer rule: :func:`addsub_in_base`, :func:`running_sum`,
  :func:`modular_sum`;
- :func:`fictitious_facts`: unique (name, description) pairs of invented entities;
- :func:`corrupt_targets`: the shuffle / repeat / blank / replace noise applied to target
  sequences.

Every random draw comes from a ``numpy.random.Generator`` (or a seed) given by the caller.
Token ids are ``int64``; log-probabilities are natural logs, ``-inf`` where the source
cannot emit a token.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .validation import non_negative_float, positive_float, positive_int


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (e.g. from shared.repro.setup)")
    return rng


class ClusteredMarkovLanguage:
    """Words in ``K`` equal clusters; clusters follow a Markov chain, words a Zipf law.

    Parameters
    ----------
    vocab_size : int
        Number of words ``V`` (ids ``0 .. V-1``); must be a multiple of ``n_clusters``.
    n_clusters : int
        ``K``; word ``v`` belongs to cluster ``v // (V // K)``.
    length : int
        Words per sequence ``L``.
    n_successors : (int, int)
        Each cluster may be followed by between these many clusters (inclusive), chosen at
        random; every other transition has probability 0, which gives the language a known,
        sparse support.
    concentration : float
        Dirichlet concentration of the weights over a cluster's allowed successors (and of
        the initial cluster distribution).
    zipf : float
        Exponent ``s`` of the within-cluster law ``p(rank r) ~ r^-s`` (ranks shuffled).
    seed : int
        Seed of the language itself, independent of any sampling generator.

    Attributes
    ----------
    cluster : (V,) int64 -- cluster of each word.
    start : (K,) -- initial cluster distribution.
    transition : (K, K) -- cluster transition matrix, rows sum to 1, zeros off the support.
    emission : (V,) -- ``p(word | its cluster)``; sums to 1 within each cluster.
    bos : int -- begin-of-sequence id (``= V``); ``n_tokens = V + 1`` ids in all.
    block_size : int -- ``L + 1``, the length of a sampled sequence with its ``bos``.
    words : (V,) int64 -- the ids a model may emit (pass as ``allowed_tokens``).
    """

    def __init__(self, vocab_size: int, n_clusters: int, length: int, *,
                 n_successors: tuple[int, int] = (2, 3), concentration: float = 0.5,
                 zipf: float = 1.1, seed: int = 0):
        V = positive_int("vocab_size", vocab_size)
        K = positive_int("n_clusters", n_clusters)
        self.length = positive_int("length", length)
        if V % K:
            raise ValueError(f"vocab_size ({V}) must be a multiple of n_clusters ({K})")
        lo, hi = (positive_int("n_successors", int(n)) for n in n_successors)
        if lo > hi or hi > K:
            raise ValueError(f"n_successors must satisfy 1 <= low <= high <= n_clusters ({K}), got {n_successors}")
        concentration = positive_float("concentration", concentration)
        zipf = non_negative_float("zipf", zipf)
        rng = np.random.default_rng(seed)
        size = V // K
        self.vocab_size, self.n_clusters = V, K
        self.cluster = np.repeat(np.arange(K), size)
        self.start = rng.dirichlet(np.full(K, concentration))
        self.transition = np.zeros((K, K))
        for k in range(K):
            succ = rng.choice(K, size=rng.integers(lo, hi + 1), replace=False)
            self.transition[k, succ] = rng.dirichlet(np.full(len(succ), concentration))
        law = np.arange(1, size + 1, dtype=float) ** -zipf
        law /= law.sum()
        self.emission = np.concatenate([rng.permutation(law) for _ in range(K)])
        self.bos = V
        self.n_tokens = V + 1
        self.block_size = self.length + 1
        self.words = np.arange(V)
        with np.errstate(divide="ignore"):
            # row s: log p(next word | last token s); the bos row uses the initial distribution
            clusters = np.vstack([self.transition[self.cluster], self.start])   # (V+1, K)
            self._table = np.log(clusters[:, self.cluster] * self.emission)

    def _check(self, tokens) -> np.ndarray:
        tokens = np.asarray(tokens)
        if not np.issubdtype(tokens.dtype, np.integer) or tokens.ndim < 1:
            raise ValueError("tokens must be an integer array of shape (..., T)")
        if tokens.size and (tokens.min() < 0 or tokens.max() > self.bos):
            raise ValueError(f"token ids must lie in [0, {self.bos}] (words and bos)")
        return tokens

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` sequences of shape ``(n, L + 1)``: ``bos`` then ``L`` words."""
        n = positive_int("n", n)
        rng = _check_rng(rng)
        out = np.empty((n, self.block_size), dtype=np.int64)
        out[:, 0] = self.bos
        probs = np.exp(self._table)
        cdf = np.cumsum(probs, axis=1)
        for t in range(1, self.block_size):
            c = cdf[out[:, t - 1]]
            u = rng.random(n)[:, None] * c[:, -1:]
            out[:, t] = np.minimum((u > c).sum(1), self.vocab_size - 1)
        return out

    def next_token_logprobs(self, tokens) -> np.ndarray:
        """Exact ``log p(. | tokens[..., :t+1])`` at every position: ``(..., T)`` -> ``(..., T, V)``.

        The source is first order in the last token, so the row depends on ``tokens[..., t]``
        only; ``-inf`` marks words the source cannot emit there.
        """
        return self._table[self._check(tokens)]

    def support(self, tokens) -> np.ndarray:
        """``(..., T, V)`` bool: the words the source can emit after each position."""
        return np.isfinite(self.next_token_logprobs(tokens))

    def token_logprobs(self, tokens) -> np.ndarray:
        """Exact ``log p(tokens[..., t] | tokens[..., :t])`` for ``t >= 1``: shape ``(..., T-1)``."""
        tokens = self._check(tokens)
        if tokens.shape[-1] < 2:
            raise ValueError("token_logprobs needs sequences of at least two tokens")
        nxt = tokens[..., 1:]
        if nxt.size and nxt.max() >= self.vocab_size:
            raise ValueError("bos may only appear in the first position")
        return np.take_along_axis(self._table[tokens[..., :-1]], nxt[..., None], axis=-1)[..., 0]

    def logprob(self, tokens) -> np.ndarray:
        """Exact log-likelihood of each sequence (after its first token): shape ``(...,)``."""
        return self.token_logprobs(tokens).sum(-1)

    def embedding(self, noise_sd: float, rng: np.random.Generator) -> np.ndarray:
        """``(V, K)`` unit rows: one-hot cluster plus ``N(0, noise_sd^2)`` noise.

        A token geometry in which words of one cluster are near-synonyms (cosine near 1) and
        words of different clusters are nearly orthogonal.
        """
        noise_sd = non_negative_float("noise_sd", noise_sd)
        rng = _check_rng(rng)
        e = np.eye(self.n_clusters)[self.cluster] + noise_sd * rng.standard_normal((self.vocab_size, self.n_clusters))
        return e / np.linalg.norm(e, axis=1, keepdims=True)


class Vocab:
    """Symbol <-> id table: ``Vocab(list("0123456789") + ["+", "=", "<bk>"])``.

    ``v[symbol]`` is the id of a symbol, ``len(v)`` the number of ids; :meth:`encode` takes a
    string (split into characters) or a list of symbols.
    """

    def __init__(self, symbols: Sequence[str]):
        self.symbols = [str(s) for s in symbols]
        if not self.symbols:
            raise ValueError("Vocab needs at least one symbol")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("Vocab symbols must be distinct")
        self._ids = {s: i for i, s in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    def __getitem__(self, symbol: str) -> int:
        try:
            return self._ids[symbol]
        except KeyError:
            raise ValueError(f"unknown symbol {symbol!r}; the vocabulary has {self.symbols}") from None

    def encode(self, text) -> np.ndarray:
        """ids of a string (one symbol per character) or of a list of symbols, ``int64``."""
        return np.array([self[s] for s in text], dtype=np.int64)

    def decode(self, ids) -> list[str]:
        ids = np.asarray(ids).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"ids must lie in [0, {len(self)})")
        return [self.symbols[i] for i in ids]


def _to_base(value: int, base: int) -> str:
    digits = ""
    value = abs(int(value))
    while True:
        digits = str(value % base) + digits
        value //= base
        if value == 0:
            return digits


def addsub_in_base(n: int, *, base: int = 5, min_digits: int = 2, max_digits: int = 4,
                   rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """``n`` problems ``a+b=`` or ``a-b=`` written in ``base`` (2..10), with their answers.

    Operand lengths are uniform on ``min_digits .. max_digits`` (no leading zeros); the
    operator is ``+`` or ``-`` with probability 1/2; a negative answer carries a leading
    ``-``. Returns ``(questions, answers)``, e.g. ``("132+41=", "223")`` in base 5.
    """
    n = positive_int("n", n)
    base = positive_int("base", base)
    if not 2 <= base <= 10:
        raise ValueError(f"base must lie in 2..10, got {base}")
    lo, hi = positive_int("min_digits", min_digits), positive_int("max_digits", max_digits)
    if lo > hi:
        raise ValueError(f"min_digits ({lo}) exceeds max_digits ({hi})")
    rng = _check_rng(rng)

    def operand():
        d = int(rng.integers(lo, hi + 1))
        return int(rng.integers(base ** (d - 1) if d > 1 else 0, base ** d))

    questions, answers = [], []
    for _ in range(n):
        a, b = operand(), operand()
        op = "+" if rng.random() < 0.5 else "-"
        c = a + b if op == "+" else a - b
        questions.append(f"{_to_base(a, base)}{op}{_to_base(b, base)}=")
        answers.append(("-" if c < 0 else "") + _to_base(c, base))
    return questions, answers


def running_sum(n: int, length: int, *, modulus: int = 10,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Digits ``x (n, L)`` uniform on ``0..modulus-1`` and ``y_t = (x_1 + .. + x_t) mod modulus``."""
    n, length, modulus = positive_int("n", n), positive_int("length", length), positive_int("modulus", modulus)
    x = _check_rng(rng).integers(0, modulus, size=(n, length))
    return x, np.cumsum(x, axis=1) % modulus


def modular_sum(n: int, n_digits: int, *, modulus: int = 10,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digits ``x (n, D)``, their partial sums and the answer ``y = sum(x) mod modulus``.

    ``partial[:, j] = (x_1 + .. + x_{j+2}) mod modulus`` for ``j = 0 .. D-2`` (shape
    ``(n, D-1)``), the natural step-by-step rationale; ``partial[:, -1] == y``.
    """
    n, modulus = positive_int("n", n), positive_int("modulus", modulus)
    if positive_int("n_digits", n_digits) < 2:
        raise ValueError(f"n_digits must be at least 2, got {n_digits}")
    x = _check_rng(rng).integers(0, modulus, size=(n, n_digits))
    partial = np.cumsum(x, axis=1)[:, 1:] % modulus
    return x, partial, partial[:, -1].copy()


def fictitious_facts(n: int, *, n_first: int, n_last: int, n_adjectives: int, n_nouns: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` invented entities: distinct names and distinct descriptions.

    Returns ``names (n, 2)`` = (first, last) indices into pools of ``n_first`` and ``n_last``
    and ``descriptions (n, 2)`` = (adjective, noun) indices; no name and no description
    occurs twice, so each fact pairs one name with one description.
    """
    n = positive_int("n", n)
    pools = {k: positive_int(k, v) for k, v in
             dict(n_first=n_first, n_last=n_last, n_adjectives=n_adjectives, n_nouns=n_nouns).items()}
    if n > pools["n_first"] * pools["n_last"] or n > pools["n_adjectives"] * pools["n_nouns"]:
        raise ValueError(f"cannot draw {n} distinct names and descriptions from pools {pools}")
    rng = _check_rng(rng)
    names = rng.choice(pools["n_first"] * pools["n_last"], size=n, replace=False)
    descs = rng.choice(pools["n_adjectives"] * pools["n_nouns"], size=n, replace=False)
    return (np.stack(np.divmod(names, pools["n_last"]), axis=1),
            np.stack(np.divmod(descs, pools["n_nouns"]), axis=1))


_KINDS = ("shuffle", "repeat", "blank", "replace")


def corrupt_targets(tokens, kind: str, k: int, rng: np.random.Generator, *, fill=None,
                    max_distance: int = 2) -> np.ndarray:
    """Noisy copy of target sequences ``(N, L)``: ``k`` operations of one kind per row.

    - ``"shuffle"``: swap two positions at most ``max_distance`` apart;
    - ``"repeat"``: duplicate the token at a position (not the last) and drop the last token,
      so the length is kept;
    - ``"blank"``: write ``fill`` (one id) at a position;
    - ``"replace"``: write a token drawn from ``fill`` (candidate ids), different from the
      current one, at a position.

    ``k = 0`` returns an unchanged copy. Positions are drawn independently, so two operations
    may touch the same place.
    """
    tokens = np.array(tokens, dtype=np.int64, copy=True)
    if tokens.ndim != 2:
        raise ValueError("tokens must have shape (N, L)")
    if kind not in _KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(_KINDS)}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    rng = _check_rng(rng)
    N, L = tokens.shape
    if kind == "blank" and (fill is None or np.ndim(fill) != 0):
        raise ValueError("kind='blank' needs fill=<the blank token id>")
    if kind == "replace":
        fill = np.unique(np.asarray(fill if fill is not None else [], dtype=np.int64))
        if fill.size < 2:
            raise ValueError("kind='replace' needs fill=<at least two candidate ids>")
    if kind == "shuffle":
        max_distance = positive_int("max_distance", max_distance)
        if L < 2:
            raise ValueError("shuffle needs sequences of at least two tokens")
    if kind == "repeat" and L < 2:
        raise ValueError("repeat needs sequences of at least two tokens")
    rows = np.arange(N)
    for _ in range(k):
        # a repeat at the last position would be dropped again at once
        i = rng.integers(0, L - 1 if kind == "repeat" else L, size=N)
        if kind == "shuffle":
            shift = rng.integers(1, min(max_distance, L - 1) + 1, size=N) * rng.choice([-1, 1], size=N)
            j = i + shift
            j = np.where((j < 0) | (j >= L), i - shift, j).clip(0, L - 1)
            tokens[rows, i], tokens[rows, j] = tokens[rows, j], tokens[rows, i].copy()
        elif kind == "repeat":
            for r in rows:
                tokens[r, i[r] + 1:] = tokens[r, i[r]:-1].copy()
        elif kind == "blank":
            tokens[rows, i] = int(fill)
        else:
            cur = tokens[rows, i]
            known = np.isin(cur, fill)
            # a current token among the candidates is excluded: draw from the other size-1
            # (a draw equal to it is mapped onto the last candidate, which was left out)
            draw = fill[rng.integers(0, np.where(known, fill.size - 1, fill.size))]
            tokens[rows, i] = np.where(draw == cur, fill[-1], draw)
    return tokens
