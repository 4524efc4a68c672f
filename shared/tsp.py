"""Euclidean TSP: instances, tours, candidate graphs, 2-opt and a heatmap-guided local search in the
style of Att-GCN+MCTS (Fu et al. 2021), with near-optimal reference tours from LKH-3 (``elkai``).

A tour is a permutation (n,) of the cities (the return edge is implied). Points are (n, 2) in the unit
square. All searches count moves, not seconds, so results do not depend on the machine's speed.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.neighbors import NearestNeighbors

from .validation import non_negative_float, positive_int

ELKAI_SCALE = 1_000_000  # LKH's EUC_2D rounds distances to integers: scale unit-square coordinates first


def random_instances(n_instances: int, n_cities: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random instances (n_instances, n_cities, 2) in the unit square."""
    return rng.random((positive_int("n_instances", n_instances), positive_int("n_cities", n_cities), 2))


def _check_tour(tour, n: int) -> np.ndarray:
    t = np.asarray(tour)
    if t.shape != (n,) or not np.array_equal(np.sort(t), np.arange(n)):
        raise ValueError(f"tour must be a permutation of 0..{n - 1}")
    return t.astype(np.int64)


def tour_length(points, tour) -> float:
    """Length of the closed tour through ``points`` (n, 2) in the order ``tour`` (n,)."""
    p = np.asarray(points, float)
    t = _check_tour(tour, len(p))
    return float(np.linalg.norm(p[t] - p[np.roll(t, -1)], axis=1).sum())


def knn_graph(points, k: int) -> np.ndarray:
    """Indices (n, k) of each city's k nearest other cities, nearest first (scikit-learn)."""
    p = np.asarray(points, float)
    k = positive_int("k", k)
    if k >= len(p):
        raise ValueError(f"k must be smaller than the number of cities {len(p)}, got {k}")
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(p).kneighbors(p)
    return idx[:, 1:]


def reference_tour(points, runs: int = 1) -> np.ndarray:
    """Near-optimal tour from LKH-3 via ``elkai`` (deterministic: LKH's default seed)."""
    import elkai

    p = np.asarray(points, float)
    coords = {str(i): (float(x * ELKAI_SCALE), float(y * ELKAI_SCALE)) for i, (x, y) in enumerate(p)}
    tour = [int(c) for c in elkai.Coordinates2D(coords).solve_tsp(runs=positive_int("runs", runs))]
    return _check_tour(np.array(tour[:-1] if tour[0] == tour[-1] and len(tour) == len(p) + 1 else tour), len(p))


def nearest_neighbour_tour(points, start: int = 0) -> np.ndarray:
    """Greedy tour: always go to the nearest unvisited city."""
    D = cdist(points, points)
    n = len(D)
    tour, seen = [start], np.zeros(n, bool)
    seen[start] = True
    for _ in range(n - 1):
        d = np.where(seen, np.inf, D[tour[-1]])
        tour.append(int(np.argmin(d)))
        seen[tour[-1]] = True
    return np.array(tour)


def _two_opt_move(tour, pos, i, j):
    """Reverse tour[i+1 .. j] (i < j): replaces edges (t_i, t_i+1), (t_j, t_j+1) by (t_i, t_j), (t_i+1, t_j+1)."""
    seg = tour[i + 1:j + 1][::-1].copy()
    tour[i + 1:j + 1] = seg
    pos[seg] = np.arange(i + 1, j + 1)


def _gain(D, tour, i, j):
    n = len(tour)
    a, b, c, d = tour[i], tour[(i + 1) % n], tour[j], tour[(j + 1) % n]
    return D[a, b] + D[c, d] - D[a, c] - D[b, d]


def two_opt(points, tour, candidates, *, max_passes: int = 100) -> np.ndarray:
    """2-opt local search restricted to moves that add an edge (a, c) with c a candidate of a
    (``candidates`` (n, k), e.g. :func:`knn_graph`), with the other new edge joining either the two
    successors or the two predecessors; first improvement, until no move improves."""
    p = np.asarray(points, float)
    D = cdist(p, p)
    n = len(p)
    tour = _check_tour(tour, n).copy()
    pos = np.empty(n, np.int64)
    pos[tour] = np.arange(n)
    for _ in range(positive_int("max_passes", max_passes)):
        improved = False
        for a in range(n):
            for c in candidates[a]:
                # both ways to add (a, c): drop the edges after a and c, or the edges before them
                for i, j in (sorted((pos[a], pos[c])), sorted(((pos[a] - 1) % n, (pos[c] - 1) % n))):
                    if j - i < 2 or (i == 0 and j == n - 1):
                        continue
                    if _gain(D, tour, i, j) > 1e-12:
                        _two_opt_move(tour, pos, i, j)
                        improved = True
                        break
        if not improved:
            break
    return tour


def _reverse_cyclic(tour, pos, i, j):
    """Reverse the cyclic run of positions i, i+1, ..., j (wrapping past n - 1) in place."""
    n = len(tour)
    idx = (i + np.arange((j - i) % n + 1)) % n
    seg = tour[idx][::-1]
    tour[idx] = seg
    pos[seg] = idx


def heatmap_guided_local_search(points, heatmap, candidates, *, n_actions: int, rng: np.random.Generator,
                                alpha: float = 1.0, beta: float = 10.0, depth: int = 6, init_weight: float = 100.0,
                                tour=None) -> tuple[np.ndarray, list[float]]:
    """Heatmap-guided k-opt search, a reduction of the MCTS of Fu et al. (2021).

    Edge weights start at ``init_weight * heatmap`` on the candidate edges; visit counts ``Q`` start at 0.
    An action is a sequential (Lin-Kernighan-style) k-opt move of up to ``depth`` steps: it removes the
    edge (t1, t2) after or before (at random) a random city t1; each step adds an edge (t2, t3) with t3 drawn among t2's
    candidates (``candidates`` (n, k)) with probability proportional to
    ``Z = W_23 / mean_c W_2c + alpha sqrt(log(M + 1) / (Q_23 + 1))`` (M = actions so far), restricted to
    those that keep the partial gain positive (the LK gain criterion), then removes (t4, t3) with t4 the
    neighbour of t3 on t2's side and closes the tour with (t1, t4), which is a 2-opt reversal; t4 is the new free
    end. The action stops as soon as the closed tour is shorter than before it (kept), or after ``depth``
    steps or when no candidate is admissible (undone). An improving action raises the weights of its
    added edges by ``beta (exp((L_before - L_after) / L_before) - 1)``.

    Starts from the 2-opt local optimum of ``tour`` (default: nearest-neighbour tour). Returns the best
    tour and its length after every action (non-increasing).
    """
    p = np.asarray(points, float)
    n = len(p)
    H = np.asarray(heatmap, float)
    if H.shape != (n, n) or np.any(H < 0):
        raise ValueError(f"heatmap must be a non-negative ({n}, {n}) array")
    cand = np.asarray(candidates)
    if cand.ndim != 2 or len(cand) != n:
        raise ValueError(f"candidates must be an ({n}, k) array of city indices")
    alpha, beta = non_negative_float("alpha", alpha), non_negative_float("beta", beta)
    depth, n_actions = positive_int("depth", depth), positive_int("n_actions", n_actions)
    init_weight = non_negative_float("init_weight", init_weight)
    D = cdist(p, p)
    rows = np.arange(n)[:, None]
    # the inner loop works on k <= ~20 numbers at a time: plain Python lists beat numpy there
    W = (init_weight * H[rows, cand] + 1e-12).tolist()  # (n, k): weights of candidate edges only
    Q = [[0] * cand.shape[1] for _ in range(n)]
    Dl, Dc, cl = D.tolist(), D[rows, cand].tolist(), cand.tolist()
    tour = two_opt(p, nearest_neighbour_tour(p) if tour is None else tour, cand)
    pos = np.empty(n, np.int64)
    pos[tour] = np.arange(n)
    length = tour_length(p, tour)
    history = []
    for m in range(n_actions):
        start_tour, start_len = tour.copy(), length
        t1 = int(rng.integers(n))
        step = 1 if rng.random() < 0.5 else -1  # break the edge after t1 or the one before it
        t2 = int(tour[(pos[t1] + step) % n])
        g = Dl[t1][t2]  # removed minus added, closing edge excluded
        log_m = math.log(m + 1)
        added, kept = [], False
        for _ in range(depth):
            succ2 = int(tour[(pos[t2] + step) % n])
            w, q, d2 = W[t2], Q[t2], Dc[t2]
            w_mean = sum(w) / len(w)
            ok = [j for j, c in enumerate(cl[t2]) if g - d2[j] > 1e-12 and c != t1 and c != succ2]
            if not ok:
                break
            z = [w[j] / w_mean + alpha * math.sqrt(log_m / (q[j] + 1)) for j in ok]
            u = rng.random() * sum(z)
            jc = ok[-1]
            for j, zj in zip(ok, z):
                if u < zj:
                    jc = j
                    break
                u -= zj
            t3 = cl[t2][jc]
            q[jc] += 1
            t4 = int(tour[(pos[t3] - step) % n])
            # t1 t2 ... t4 t3 (read in direction step): reversing t2..t4 swaps (t1,t2),(t4,t3) for (t1,t4),(t2,t3)
            if step == 1:
                _reverse_cyclic(tour, pos, pos[t2], pos[t4])
            else:
                _reverse_cyclic(tour, pos, pos[t4], pos[t2])
            length += Dl[t1][t4] + d2[jc] - Dl[t1][t2] - Dl[t4][t3]
            added.append((t2, jc))
            g += Dl[t4][t3] - d2[jc]
            if length < start_len - 1e-12:
                kept = True
                break
            t2 = t4  # the closing edge (t1, t4) is the one the next step breaks
        if kept:
            bonus = beta * (math.exp((start_len - length) / start_len) - 1)
            for a_, jc_ in added:
                W[a_][jc_] += bonus
        else:
            tour, length = start_tour, start_len
            pos[tour] = np.arange(n)
        history.append(length)
    return tour, history


def edge_rank_prior(points_list, tours, k: int) -> np.ndarray:
    """Frequencies (k,) with which an edge of the given (near-optimal) tours joins a city to its
    r-th nearest neighbour, r = 1..k, pooled over both directions of every edge and all instances
    (edges beyond rank k are dropped; the result sums to 1)."""
    counts = np.zeros(positive_int("k", k))
    for p, t in zip(points_list, tours):
        nn = knn_graph(p, k)
        t = _check_tour(t, len(p))
        for u, v in zip(t, np.roll(t, -1)):
            for x, y in ((u, v), (v, u)):
                r = np.flatnonzero(nn[x] == y)
                if len(r):
                    counts[r[0]] += 1
    if counts.sum() == 0:
        raise ValueError("no tour edge joins a city to one of its k nearest neighbours")
    return counts / counts.sum()


def rank_heatmap(points, prior) -> np.ndarray:
    """Heatmap (n, n) with ``H[i, j] = prior[r]`` when j is i's (r+1)-th nearest neighbour, 0 beyond
    ``len(prior)`` neighbours (the parameter-free GT-Prior construction)."""
    p = np.asarray(points, float)
    prior = np.asarray(prior, float)
    nn = knn_graph(p, len(prior))
    H = np.zeros((len(p), len(p)))
    H[np.arange(len(p))[:, None], nn] = prior[None, :]
    return H
