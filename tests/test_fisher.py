"""Unit tests of shared.fisher: finite-difference Jacobians and Fisher forecasts."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.fisher import derived_error, finite_diff_jacobian, fisher_matrix, marginal_errors

RNG = np.random.default_rng(0)
A = RNG.normal(size=(12, 3))
B = RNG.normal(size=(12, 12))
COV = B @ B.T + 12 * np.eye(12)


@pytest.mark.parametrize("scheme", ["forward", "central"])
def test_linear_model_jacobian_is_exact(scheme):
    b = RNG.normal(size=12)
    J, f0 = finite_diff_jacobian(lambda x: A @ x + b, [0.3, -1.0, 2.0], [0.1, 0.5, 1.0], scheme)
    np.testing.assert_allclose(J, A, atol=1e-10)
    np.testing.assert_allclose(f0, A @ [0.3, -1.0, 2.0] + b)


def test_fisher_of_linear_gaussian_model_is_the_inverse_posterior_covariance():
    # d = A theta + noise, noise ~ N(0, COV): the least-squares estimator has covariance F^{-1}
    F = fisher_matrix(A, COV)
    np.testing.assert_allclose(F, A.T @ np.linalg.solve(COV, A), rtol=1e-10)
    theta = np.array([1.0, -2.0, 0.5])
    noise = np.random.default_rng(1).multivariate_normal(np.zeros(12), COV, size=20_000)
    W = np.linalg.solve(COV, A)
    est = (noise + A @ theta) @ W @ np.linalg.inv(F)  # GLS estimates, one per row
    np.testing.assert_allclose(est.std(axis=0), marginal_errors(F), rtol=0.03)
    np.testing.assert_allclose(fisher_matrix(A, np.diag(COV)), A.T @ (A / np.diag(COV)[:, None]))


def test_derivative_accuracy_against_analytic():
    f = lambda x: np.array([np.sin(x[0]) * np.exp(x[1]), x[0] ** 3])  # noqa: E731
    x0 = np.array([0.7, -0.3])
    exact = np.array([[np.cos(0.7) * np.exp(-0.3), np.sin(0.7) * np.exp(-0.3)], [3 * 0.7 ** 2, 0.0]])
    errs = {}
    for scheme in ("forward", "central"):
        e = [np.abs(finite_diff_jacobian(f, x0, [h, h], scheme)[0] - exact).max() for h in (1e-2, 5e-3)]
        errs[scheme] = e
    assert errs["forward"][0] / errs["forward"][1] == pytest.approx(2.0, rel=0.1)  # O(h)
    assert errs["central"][0] / errs["central"][1] == pytest.approx(4.0, rel=0.1)  # O(h^2)
    assert errs["central"][1] < 1e-4


@given(st.lists(st.floats(0.1, 10.0), min_size=3, max_size=3))
@settings(max_examples=30, deadline=None)
def test_derived_error_of_a_parameter_is_its_marginal_error(scales):
    F = fisher_matrix(A * np.asarray(scales), COV)
    sig = marginal_errors(F)
    for i in range(3):
        assert derived_error(F, np.eye(3)[i]) == pytest.approx(sig[i], rel=1e-8)
    # linear in the gradient
    assert derived_error(F, 2 * np.ones(3)) == pytest.approx(2 * derived_error(F, np.ones(3)), rel=1e-10)


def test_input_validation():
    with pytest.raises(ValueError, match="steps"):
        finite_diff_jacobian(lambda x: x, [1.0, 2.0], [0.1, 0.0])
    with pytest.raises(ValueError, match="scheme"):
        finite_diff_jacobian(lambda x: x, [1.0], [0.1], "backward")
    with pytest.raises(ValueError, match="positive definite"):
        fisher_matrix(A, -np.eye(12))
    with pytest.raises(ValueError, match="not positive definite"):
        marginal_errors(np.array([[1.0, 1.0], [1.0, 1.0]]) + np.diag([0.0, -1e-3]))
