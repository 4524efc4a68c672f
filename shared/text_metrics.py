"""Metrics for generated token sequences, from the libraries made for them where one exists.

- :func:`bleu`: corpus BLEU by sacrebleu on token sequences;
- :func:`distinct_n`: the share of distinct n-grams (diversity);
- :func:`mauve_score`: MAUVE (mauve-text) between two samples of feature vectors;
- :func:`group_bigram_features`: per-sequence histograms of consecutive group pairs, a cheap
  feature map for MAUVE on synthetic languages;
- :func:`next_token_divergences`: forward / reverse KL and off-support mass of a model's
  next-token distributions against a source whose log-probabilities are known.

Sequences are lists of token lists or integer arrays ``(N, L)``.
"""
from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

from .validation import positive_int


def _as_strings(sequences, what: str) -> list[str]:
    out = []
    for s in sequences:
        toks = list(np.asarray(s).ravel()) if not isinstance(s, str) else s.split()
        out.append(" ".join(str(t) for t in toks))
    if not out:
        raise ValueError(f"{what} is empty")
    return out


def bleu(hypotheses, references) -> float:
    """Corpus BLEU (0-100) of token sequences, one reference each (sacrebleu, no tokeniser).

    Tokens are compared as written (ids or symbols), so the score is BLEU-4 over the given
    tokenisation.
    """
    import sacrebleu

    hyp, ref = _as_strings(hypotheses, "hypotheses"), _as_strings(references, "references")
    if len(hyp) != len(ref):
        raise ValueError(f"{len(hyp)} hypotheses but {len(ref)} references")
    return float(sacrebleu.corpus_bleu(hyp, [ref], tokenize="none").score)


def _ngrams(seq, n):
    seq = tuple(np.asarray(seq).ravel().tolist())
    return [seq[i:i + n] for i in range(len(seq) - n + 1)]


def distinct_n(sequences, n: int) -> float:
    """Distinct n-grams over all n-grams in the corpus (1: no n-gram repeats)."""
    n = positive_int("n", n)
    grams = [g for s in sequences for g in _ngrams(s, n)]
    if not grams:
        raise ValueError(f"no sequence is long enough to hold a {n}-gram")
    return len(set(grams)) / len(grams)


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2: faiss's k-means warns from C++ on every small sample."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def mauve_score(p_features, q_features, *, num_buckets="auto", seed: int = 0) -> float:
    """MAUVE between reference features ``p (N, d)`` and model features ``q (M, d)``.

    mauve-text quantises the union of both samples by k-means (``num_buckets`` clusters,
    ``"auto"``: a tenth of the samples) and scores the divergence frontier of the two
    histograms; 1 means indistinguishable. Features are the caller's (no GPT-2 here). The
    k-means runs on one thread (restored afterwards), which also keeps the result the same
    from run to run.
    """
    import faiss
    import mauve

    p = np.asarray(p_features, dtype=np.float32)
    q = np.asarray(q_features, dtype=np.float32)
    if p.ndim != 2 or q.ndim != 2 or p.shape[1] != q.shape[1]:
        raise ValueError("p_features and q_features must be (N, d) and (M, d) with the same d")
    if min(len(p), len(q)) < 2:
        raise ValueError("mauve_score needs at least two samples on each side")
    threads = faiss.omp_get_max_threads()
    # one thread: faiss's OpenMP k-means spins for seconds on a busy 2-core machine, for
    # buckets that one core fits in a tenth of a second
    faiss.omp_set_num_threads(1)
    try:
        with _quiet_stderr():
            out = mauve.compute_mauve(p_features=p, q_features=q, num_buckets=num_buckets, seed=int(seed),
                                      verbose=False, device_id=-1)
    finally:
        faiss.omp_set_num_threads(threads)
    return float(out.mauve)


def group_bigram_features(tokens, groups, n_groups: int) -> np.ndarray:
    """``(N, G*G)`` frequencies of consecutive group pairs ``(g(x_t), g(x_{t+1}))`` per sequence.

    ``groups`` maps each token id to a group in ``0 .. n_groups-1`` (e.g. the cluster of a
    word); each row sums to 1.
    """
    tokens = np.asarray(tokens)
    groups = np.asarray(groups)
    G = positive_int("n_groups", n_groups)
    if tokens.ndim != 2 or tokens.shape[1] < 2:
        raise ValueError("tokens must be (N, L) with L >= 2")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= len(groups)):
        raise ValueError(f"token ids must index groups (length {len(groups)})")
    if groups.min() < 0 or groups.max() >= G:
        raise ValueError(f"groups must lie in 0 .. {G - 1}")
    g = groups[tokens]
    pair = g[:, :-1] * G + g[:, 1:]
    feats = np.zeros((len(tokens), G * G))
    np.add.at(feats, (np.repeat(np.arange(len(tokens)), pair.shape[1]), pair.ravel()), 1.0)
    return feats / pair.shape[1]


def next_token_divergences(true_logprobs, model_logprobs) -> dict[str, np.ndarray]:
    """Divergences of model next-token distributions from the true source, per position.

    Both arrays are ``(..., V)`` natural-log probabilities (``-inf`` allowed in the truth).
    Returns ``(...)`` arrays:

    - ``"forward_kl"``: KL(p || q), the recall side that maximum likelihood minimises;
    - ``"reverse_kl"``: KL(q~ || p) with ``q~`` the model renormalised on the source's support
      (the precision side, finite even when the model leaks mass);
    - ``"off_support_mass"``: the model's probability on tokens the source never emits.
    """
    lp = np.asarray(true_logprobs, dtype=float)
    lq = np.asarray(model_logprobs, dtype=float)
    if lp.shape != lq.shape:
        raise ValueError(f"true_logprobs {lp.shape} and model_logprobs {lq.shape} differ in shape")
    if not np.all(np.isfinite(lq)):
        raise ValueError("model_logprobs must be finite (a softmax model gives every token some mass)")
    support = np.isfinite(lp)
    if not np.all(support.any(-1)):
        raise ValueError("every true distribution needs a non-empty support")
    p = np.exp(np.where(support, lp, -np.inf))
    q = np.exp(lq)
    forward = np.where(support, p * (np.where(support, lp, 0.0) - lq), 0.0).sum(-1)
    on = np.where(support, q, 0.0)
    mass_on = on.sum(-1, keepdims=True)
    q_tilde = on / mass_on
    with np.errstate(divide="ignore", invalid="ignore"):
        rev_terms = np.where(support & (q_tilde > 0),
                             q_tilde * (np.log(np.where(q_tilde > 0, q_tilde, 1.0)) - np.where(support, lp, 0.0)),
                             0.0)
    return {"forward_kl": forward, "reverse_kl": rev_terms.sum(-1),
            "off_support_mass": 1.0 - mass_on[..., 0]}
