"""Tests of shared.moe: the Gaussian MoE density, its sampler and the Voronoi loss."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.stats import kstest

from shared.moe import (MoEParams, gate_logits, gate_probs, moe_log_likelihood, moe_sample,
                        voronoi_cells, voronoi_loss)

TRUTH = dict(beta1=[[2.0, -1.0], [0.5, 1.0], [0.0, 0.0]], beta0=[0.3, -0.2, 0.0], tau=0.7,
             a=[[-1.0, 0.5], [1.0, 0.0], [0.2, -2.0]], b=[0.5, -0.5, 1.0], nu=[0.09, 0.16, 0.25])


@pytest.fixture
def params():
    return MoEParams.from_arrays(**TRUTH)


@pytest.fixture
def x():
    return torch.rand(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2 - 1


@pytest.mark.parametrize("gate", ["temperature", "activation"])
def test_log_likelihood_matches_torch_mixture(params, x, gate):
    y = torch.randn(50, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    probs = gate_probs(x, params, gate)
    reference = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(probs=probs),
        torch.distributions.Normal(x @ params.a.T + params.b, params.nu.sqrt().expand(50, 3)))
    torch.testing.assert_close(moe_log_likelihood(x, y, params, gate), reference.log_prob(y))


@pytest.mark.parametrize("gate", ["temperature", "activation"])
def test_density_integrates_to_one_over_y(params, gate):
    for xv in ([-0.9, 0.4], [0.0, 0.0], [0.7, -0.6]):
        xt = torch.tensor([xv], dtype=torch.float64)
        dens = lambda yv: float(moe_log_likelihood(xt, torch.tensor([yv], dtype=torch.float64),
                                                   params, gate).exp())
        total, _ = quad(dens, -np.inf, np.inf, limit=200)
        assert total == pytest.approx(1.0, abs=1e-8)


def test_temperature_gate_depends_on_the_ratio_only(params, x):
    # (beta1, beta0, tau) -> c (beta1, beta0, tau) leaves the dense-to-sparse gate unchanged
    scaled = params._replace(beta1=3 * params.beta1, beta0=3 * params.beta0, tau=3 * params.tau)
    torch.testing.assert_close(gate_probs(x, scaled), gate_probs(x, params))
    # ...but not the activation gate, whose non-linearity separates beta1 from tau
    assert not torch.allclose(gate_probs(x, scaled, "activation"), gate_probs(x, params, "activation"))


def test_activation_gate_with_identity_is_a_temperature_gate(params, x):
    shifted = params._replace(beta0=params.beta0 * params.tau)
    torch.testing.assert_close(gate_logits(x, params, "activation", activation=lambda t: t),
                               gate_logits(x, shifted, "temperature"))


def test_gate_probabilities_sum_to_one(params, x):
    for gate in ("temperature", "activation"):
        torch.testing.assert_close(gate_probs(x, params, gate).sum(dim=1), torch.ones(50, dtype=torch.float64))


@pytest.mark.parametrize("gate", ["temperature", "activation"])
def test_sampler_follows_gate_and_experts(params, gate):
    x, y, z = moe_sample(params, 20_000, torch.Generator().manual_seed(3), gate=gate)
    assert x.dtype == torch.float64 and x.shape == (20_000, 2) and y.shape == z.shape == (20_000,)
    assert x.min() >= -1 and x.max() <= 1
    freq = torch.bincount(z, minlength=3).double() / 20_000
    expected = gate_probs(x, params, gate).mean(dim=0)
    torch.testing.assert_close(freq, expected, atol=0.01, rtol=0)
    # standardised residuals of every point against its own expert are exactly N(0, 1)
    resid = (y - ((x * params.a[z]).sum(dim=1) + params.b[z])) / params.nu[z].sqrt()
    assert kstest(resid.numpy(), "norm").pvalue > 1e-3
    for i in range(3):
        assert abs(float(resid[z == i].mean())) < 0.05


def test_invalid_inputs_raise(params, x):
    with pytest.raises(ValueError, match="tau"):
        gate_probs(x, params._replace(tau=torch.tensor(-1.0, dtype=torch.float64)))
    with pytest.raises(ValueError, match="shape"):
        gate_probs(x[:, :1], params)
    with pytest.raises(ValueError, match="unknown gate"):
        gate_probs(x, params, "sparse")
    with pytest.raises(ValueError, match="nu"):
        moe_sample(params._replace(nu=torch.zeros(3, dtype=torch.float64)), 5)
    with pytest.raises(ValueError, match="y must"):
        moe_log_likelihood(x, torch.zeros(3, dtype=torch.float64), params)
    with pytest.raises(ValueError, match="missing"):
        MoEParams.from_arrays(beta1=[1.0])


# ---- Voronoi loss -------------------------------------------------------------------------

measures = st.integers(1, 4).flatmap(lambda k: st.tuples(
    st.lists(st.floats(0.1, 3.0), min_size=k, max_size=k),
    st.lists(st.lists(st.floats(-3, 3), min_size=2, max_size=2), min_size=k, max_size=k)))


@settings(max_examples=50, deadline=None)
@given(measures)
def test_voronoi_loss_is_zero_at_the_truth(measure):
    w, th = measure
    if len({tuple(t) for t in th}) < len(th):
        return  # coinciding atoms make the truth's own cells ambiguous
    for assignment in ("voronoi", "hungarian"):
        assert voronoi_loss(w, th, w, th, assignment=assignment) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(measures, measures, st.randoms(use_true_random=False))
def test_voronoi_loss_ignores_the_order_of_experts(fitted, truth, rnd):
    w, th = map(np.asarray, fitted)
    perm = list(range(len(w)))
    rnd.shuffle(perm)
    ws, ts = truth
    base = voronoi_loss(w, th, ws, ts)
    assert voronoi_loss(w[perm], th[perm], ws, ts) == pytest.approx(base, rel=1e-12, abs=1e-12)


def test_voronoi_loss_by_hand():
    truth_w, truth_th = [1.0, 2.0], [[0.0, 0.0], [10.0, 0.0]]
    # two atoms in the first cell (exponent 2), none in the second (its whole weight is missed)
    fitted_w, fitted_th = [0.5, 0.7], [[3.0, 4.0], [0.0, 1.0]]
    expected = abs(1.2 - 1.0) + 0.5 * 5.0 ** 2 + 0.7 * 1.0 ** 2 + abs(0.0 - 2.0)
    assert voronoi_loss(fitted_w, fitted_th, truth_w, truth_th) == pytest.approx(expected)
    # one atom per cell: exponent 1
    expected = abs(1.5 - 1.0) + 1.5 * 5.0 + abs(2.0 - 2.0) + 2.0 * 1.0
    assert voronoi_loss([1.5, 2.0], [[3.0, 4.0], [10.0, 1.0]], truth_w, truth_th) == pytest.approx(expected)


def test_hungarian_and_voronoi_agree_near_the_truth():
    rng = np.random.default_rng(0)
    ts, ws = rng.normal(size=(3, 4)) * 5, rng.uniform(0.5, 2, size=3)
    th, w = ts + 0.01 * rng.normal(size=ts.shape), ws + 0.01
    perm = [2, 0, 1]
    assert voronoi_loss(w[perm], th[perm], ws, ts, assignment="hungarian") == pytest.approx(
        voronoi_loss(w, th, ws, ts, assignment="voronoi"))


def test_hungarian_cells_are_one_to_one():
    cells = voronoi_cells([[0.0], [0.1], [5.0]], [[0.0], [1.0]], assignment="hungarian")
    assert [c.tolist() for c in cells] == [[0], [1]]
    cells = voronoi_cells([[0.0], [0.1], [5.0]], [[0.0], [1.0]])
    assert [c.tolist() for c in cells] == [[0, 1], [2]]


def test_voronoi_loss_validates_inputs():
    with pytest.raises(ValueError, match="same k"):
        voronoi_loss([1.0, 2.0], [[0.0]], [1.0], [[0.0]])
    with pytest.raises(ValueError, match="non-negative"):
        voronoi_loss([-1.0], [[0.0]], [1.0], [[0.0]])
    with pytest.raises(ValueError, match="coordinates"):
        voronoi_loss([1.0], [[0.0, 1.0]], [1.0], [[0.0]])
    with pytest.raises(ValueError, match="at least as many"):
        voronoi_loss([1.0], [[0.0]], [1.0, 1.0], [[0.0], [1.0]], assignment="hungarian")
    with pytest.raises(ValueError, match="exponents"):
        voronoi_loss([1.0], [[0.0]], [1.0], [[0.0]], exponents=(0, 1))
