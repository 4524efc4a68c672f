import numpy as np
import pytest

from shared.validation import non_negative_float, positive_float, positive_int


@pytest.mark.parametrize("value", [1, 7, np.int64(3)])
def test_positive_int_accepts(value):
    assert positive_int("n", value) == int(value) and type(positive_int("n", value)) is int


@pytest.mark.parametrize("value", [0, -2, 1.0, True, "3", None])
def test_positive_int_rejects_with_the_name(value):
    with pytest.raises(ValueError, match=r"^n_steps must be a positive integer, got "):
        positive_int("n_steps", value)


@pytest.mark.parametrize("value", [0.5, 2, np.float32(1e-3)])
def test_positive_float_accepts(value):
    assert positive_float("tol", value) == pytest.approx(float(value))


@pytest.mark.parametrize("value", [0.0, -1.0, float("inf"), float("nan"), False, "1"])
def test_positive_float_rejects_with_the_name(value):
    with pytest.raises(ValueError, match=r"^tol must be a positive finite number, got "):
        positive_float("tol", value)


@pytest.mark.parametrize("value", [0, 0.0, 2.5])
def test_non_negative_float_accepts_zero(value):
    assert non_negative_float("lam", value) == float(value)


@pytest.mark.parametrize("value", [-1e-9, float("nan"), True, None])
def test_non_negative_float_rejects_with_the_name(value):
    with pytest.raises(ValueError, match=r"^lam must be a non-negative finite number, got "):
        non_negative_float("lam", value)
