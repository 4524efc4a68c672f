import numpy as np
import pytest
from scipy.spatial.distance import cdist

from shared.tsp import (edge_rank_prior, heatmap_guided_local_search, knn_graph, nearest_neighbour_tour,
                        random_instances, rank_heatmap, reference_tour, tour_length, two_opt)


def test_tour_length_of_a_square_and_validation():
    sq = np.array([[0, 0], [1, 0], [1, 1], [0, 1.0]])
    assert tour_length(sq, [0, 1, 2, 3]) == pytest.approx(4.0)
    assert tour_length(sq, [0, 2, 1, 3]) == pytest.approx(2 + 2 * np.sqrt(2))
    with pytest.raises(ValueError, match="permutation"):
        tour_length(sq, [0, 1, 1, 3])


def test_knn_graph_matches_brute_force():
    p = random_instances(1, 40, np.random.default_rng(0))[0]
    D = cdist(p, p) + np.diag(np.full(40, np.inf))
    np.testing.assert_array_equal(knn_graph(p, 5), np.argsort(D, axis=1)[:, :5])
    with pytest.raises(ValueError, match="k must be smaller"):
        knn_graph(p, 40)


def test_two_opt_reaches_a_local_optimum_no_longer_than_its_start():
    p = random_instances(1, 60, np.random.default_rng(1))[0]
    cand = knn_graph(p, 8)
    start = nearest_neighbour_tour(p)
    t = two_opt(p, start, cand)
    assert tour_length(p, t) <= tour_length(p, start)
    D = cdist(p, p)
    pos = np.argsort(t)
    n = len(t)
    for a in range(n):  # no candidate 2-opt move improves any more
        for c in cand[a]:
            for i, j in (sorted((pos[a], pos[c])), sorted(((pos[a] - 1) % n, (pos[c] - 1) % n))):
                if j - i < 2 or (i == 0 and j == n - 1):
                    continue
                gain = D[t[i], t[i + 1]] + D[t[j], t[(j + 1) % n]] - D[t[i], t[j]] - D[t[i + 1], t[(j + 1) % n]]
                assert gain <= 1e-9


def test_lkh_reference_is_a_permutation_and_beats_local_search():
    p = random_instances(1, 80, np.random.default_rng(2))[0]
    ref = reference_tour(p)
    assert np.array_equal(np.sort(ref), np.arange(80))
    local = two_opt(p, nearest_neighbour_tour(p), knn_graph(p, 10))
    assert tour_length(p, ref) <= tour_length(p, local) + 1e-9


def test_guided_search_never_lengthens_the_tour_and_is_deterministic():
    p = random_instances(1, 50, np.random.default_rng(3))[0]
    cand = knn_graph(p, 6)
    H = rank_heatmap(p, np.full(6, 1 / 6))
    t, hist = heatmap_guided_local_search(p, H, cand, n_actions=300, rng=np.random.default_rng(0))
    assert np.all(np.diff(hist) <= 1e-12)
    assert hist[-1] == pytest.approx(tour_length(p, t))
    assert hist[-1] <= tour_length(p, two_opt(p, nearest_neighbour_tour(p), cand)) + 1e-12
    t2, hist2 = heatmap_guided_local_search(p, H, cand, n_actions=300, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(t, t2)
    with pytest.raises(ValueError, match="heatmap"):
        heatmap_guided_local_search(p, -H, cand, n_actions=1, rng=np.random.default_rng(0))


def test_edge_rank_prior_counts_neighbour_ranks_of_tour_edges():
    # four points on a line, tour 0-1-2-3 (and back 3-0)
    p = np.array([[0.0, 0], [1, 0], [2.1, 0], [3.3, 0]])
    prior = edge_rank_prior([p], [np.array([0, 1, 2, 3])], 3)
    nn = knn_graph(p, 3)
    want = np.zeros(3)
    for u, v in [(0, 1), (1, 2), (2, 3), (3, 0)]:
        want[list(nn[u]).index(v)] += 1
        want[list(nn[v]).index(u)] += 1
    np.testing.assert_allclose(prior, want / want.sum())
    H = rank_heatmap(p, prior)
    assert H[0, 1] == prior[0] and H[0, 3] == prior[2]


def test_guided_search_improves_on_its_two_opt_start():
    # the k-opt actions reach tours that candidate 2-opt cannot: strictly shorter on every instance
    for s in range(3):
        p = random_instances(1, 60, np.random.default_rng(10 + s))[0]
        cand = knn_graph(p, 8)
        start = tour_length(p, two_opt(p, nearest_neighbour_tour(p), cand))
        H = rank_heatmap(p, 0.5 ** np.arange(8))
        _, hist = heatmap_guided_local_search(p, H, cand, n_actions=400, rng=np.random.default_rng(s), depth=8)
        assert hist[-1] < start - 1e-9


def test_guided_search_from_an_optimal_tour_keeps_it():
    # points on a circle: the angular order is optimal, no action may change its length
    ang = np.sort(np.random.default_rng(4).random(30)) * 2 * np.pi
    p = 0.5 + 0.4 * np.c_[np.cos(ang), np.sin(ang)]
    t, hist = heatmap_guided_local_search(p, rank_heatmap(p, np.full(5, 0.2)), knn_graph(p, 5), n_actions=200,
                                          rng=np.random.default_rng(0), tour=np.arange(30))
    assert hist[-1] == pytest.approx(tour_length(p, np.arange(30)))
    assert np.array_equal(np.sort(t), np.arange(30))


def test_guided_search_validates_candidates_and_budget():
    p = random_instances(1, 20, np.random.default_rng(5))[0]
    H = rank_heatmap(p, np.full(4, 0.25))
    with pytest.raises(ValueError, match="candidates"):
        heatmap_guided_local_search(p, H, knn_graph(p, 4)[:10], n_actions=5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError):
        heatmap_guided_local_search(p, H, knn_graph(p, 4), n_actions=0, rng=np.random.default_rng(0))
