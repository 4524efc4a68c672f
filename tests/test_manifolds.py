import numpy as np
import pytest
from scipy import integrate, stats

from shared.manifolds import (circle, flat_torus, random_orthogonal_embedding, spiral, von_mises_mixture_angles,
                              von_mises_mixture_logpdf)


def test_embedding_is_orthonormal_and_isometric():
    rng = np.random.default_rng(0)
    e = random_orthogonal_embedding(2, 10, rng)
    np.testing.assert_allclose(e.T @ e, np.eye(2), atol=1e-12)
    pts, theta = circle(200, rng, embedding=e)
    assert pts.shape == (200, 10)
    np.testing.assert_allclose(np.linalg.norm(pts, axis=1), 1.0)
    with pytest.raises(ValueError, match="embed"):
        random_orthogonal_embedding(5, 3, rng)


def test_angles_follow_the_von_mises_mixture():
    rng = np.random.default_rng(1)
    theta = von_mises_mixture_angles(20_000, rng, means=(0.0, 2.2), kappa=4.0)
    assert np.all((theta >= -np.pi) & (theta < np.pi))
    # the density integrates to 1 and the sample passes a KS test against its CDF
    assert integrate.quad(lambda t: np.exp(von_mises_mixture_logpdf(t)), -np.pi, np.pi)[0] == pytest.approx(1.0)
    grid = np.linspace(-np.pi, np.pi, 4001)
    cdf = np.concatenate([[0], np.cumsum(np.exp(von_mises_mixture_logpdf(0.5 * (grid[1:] + grid[:-1]))) * np.diff(grid))])
    assert stats.kstest(theta, lambda t: np.interp(t, grid, cdf)).pvalue > 1e-3


def test_torus_and_spiral_geometry():
    rng = np.random.default_rng(2)
    pts, ang = flat_torus(500, rng, radii=(1.0, 2.0))
    np.testing.assert_allclose(np.linalg.norm(pts[:, :2], axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(pts[:, 2:], axis=1), 2.0)
    s, t = spiral(300, rng, turns=2.0)
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), t / (4 * np.pi))
