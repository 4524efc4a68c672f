import numpy as np
import ot
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats as sps
from scipy.spatial.distance import cdist

from shared.sample_metrics import frechet_distance, hist_kl_2d, mmd_rbf, mode_coverage, w2_distance


def test_mmd_matches_a_direct_double_sum():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((15, 2)), rng.standard_normal((10, 2)) + 0.3
    want = 0.0
    for h in (0.2, 1.0):
        k = lambda a, b: np.exp(-np.sum((a[:, None] - b[None]) ** 2, -1) / (2 * h * h))
        want += k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()
    assert mmd_rbf(x, y, (0.2, 1.0)) == pytest.approx(want / 2)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 1000))
def test_mmd_is_zero_on_equal_samples_and_symmetric(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((20, 3)), rng.standard_normal((12, 3))
    assert mmd_rbf(x, x) == pytest.approx(0.0, abs=1e-12)
    assert mmd_rbf(x, y) == pytest.approx(mmd_rbf(y, x))
    assert mmd_rbf(x, y) >= 0


def test_mmd_grows_with_the_shift():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 2))
    values = [mmd_rbf(x, rng.standard_normal((300, 2)) + s) for s in (0.0, 0.5, 2.0)]
    assert values[0] < values[1] < values[2]


def test_w2_matches_pot_and_a_closed_form():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((40, 2)), rng.standard_normal((30, 2))
    want = np.sqrt(ot.emd2(np.full(40, 1 / 40), np.full(30, 1 / 30), cdist(x, y, "sqeuclidean")))
    assert w2_distance(x, y) == pytest.approx(want)
    # a translation by v costs exactly |v| between a sample and its shifted copy
    assert w2_distance(x, x + [3.0, 4.0]) == pytest.approx(5.0)
    assert w2_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_mode_coverage_counts():
    means = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    x = np.concatenate([np.zeros((97, 2)), np.full((2, 2), 5.0) * [1, 0], [[20.0, 20.0]]])
    out = mode_coverage(x, means, radius=1.0, min_frac=0.05)
    np.testing.assert_array_equal(out["counts"], [97, 2, 0])
    assert out["coverage"] == pytest.approx(1 / 3)
    assert out["off_mode"] == pytest.approx(0.01)
    assert mode_coverage(x, means, radius=1.0, min_frac=0.01)["coverage"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="radius"):
        mode_coverage(x, means, radius=0.0)


def test_hist_kl_matches_scipy_entropy_and_vanishes_on_identical_samples():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2000, 2)), rng.standard_normal((2000, 2)) * 1.5
    edges = np.linspace(-4, 4, 21)
    p = np.histogram2d(a[:, 0], a[:, 1], [edges, edges])[0].ravel()
    q = np.histogram2d(b[:, 0], b[:, 1], [edges, edges])[0].ravel()
    p, q = np.append(p, 2000 - p.sum()) + 0.5, np.append(q, 2000 - q.sum()) + 0.5  # overflow cell last
    assert hist_kl_2d(a, b, bins=20) == pytest.approx(sps.entropy(p, q))
    # mass thrown outside the grid is not ignored
    far = a.copy()
    far[:500] += 100.0
    assert hist_kl_2d(a, far) > hist_kl_2d(a, far[500:]) + 0.1
    assert hist_kl_2d(a, a) == pytest.approx(0.0, abs=1e-12)
    assert hist_kl_2d(a, b) > 0.05
    with pytest.raises(ValueError, match="2 columns"):
        hist_kl_2d(np.zeros((3, 3)), np.zeros((3, 3)))


def test_frechet_distance_closed_form_for_gaussians():
    rng = np.random.default_rng(4)
    n = 200_000
    a = rng.standard_normal((n, 2))
    b = rng.standard_normal((n, 2)) * [2.0, 1.0] + [1.0, 0.0]
    # N(0, I) vs N((1, 0), diag(4, 1)): 1 + (1 + 4 - 2*2) + (1 + 1 - 2*1) = 2
    assert frechet_distance(a, b) == pytest.approx(2.0, abs=0.03)
    assert frechet_distance(a[:1000], a[:1000]) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="two rows"):
        frechet_distance(a[:1], b[:5])
    with pytest.raises(ValueError, match="non-finite"):
        mmd_rbf(np.array([[np.nan, 0.0]]), a[:3])
# to append to tests/test_sample_metrics.py (imports: wasserstein_distance, sliced_wasserstein)
import numpy as np
import pytest
from scipy import stats

from shared.sample_metrics import sliced_wasserstein, w2_distance, wasserstein_distance


def test_w1_matches_scipy_in_one_dimension():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=300), rng.exponential(size=200)
    assert wasserstein_distance(a[:, None], b[:, None], 1) == pytest.approx(stats.wasserstein_distance(a, b))
    assert w2_distance(a[:, None], b[:, None]) == pytest.approx(wasserstein_distance(a[:, None], b[:, None], 2))


def test_sliced_equals_w1_in_one_dimension_and_is_zero_on_equal_samples():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(400, 1)), rng.normal(1.0, 1.0, size=(400, 1))
    assert sliced_wasserstein(a, b, n_projections=10) == pytest.approx(stats.wasserstein_distance(a[:, 0], b[:, 0]))
    x = rng.normal(size=(100, 3))
    assert sliced_wasserstein(x, x) == pytest.approx(0.0, abs=1e-12)
    assert sliced_wasserstein(x, x + 1.0) > 0.5
