"""Gaussian mixture of experts with a softmax gate, and Voronoi losses between mixing measures.

The conditional density of a ``k``-expert Gaussian MoE on inputs ``x`` in ``R^d`` is

    p(y | x) = sum_i g_i(x) N(y | a_i^T x + b_i, nu_i)          (nu_i: a variance)

with one of two softmax gates (``gate=``):

- ``"temperature"`` (dense-to-sparse gate):   g(x) = softmax((beta1 x + beta0) / tau)
- ``"activation"`` (activation dense-to-sparse gate):
                                             g(x) = softmax(sigma(beta1 x) / tau + beta0)

Everything runs in torch, in the dtype of the inputs (float64 recommended): the log-likelihood
is differentiable in every parameter, so it is also the objective of a maximum-likelihood fit.

A fitted mixing measure is compared with the true one by a Voronoi loss (:func:`voronoi_loss`):
fitted atoms are grouped into the Voronoi cells of the true atoms, weights are compared cell by
cell, and atom distances are raised to an exponent that depends on how many fitted atoms share
a cell (1 for a lone atom; a larger one where several atoms fit one true expert).
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .validation import positive_int

__all__ = ["GATES", "MoEParams", "gate_logits", "gate_probs", "moe_log_likelihood", "moe_sample",
           "voronoi_cells", "voronoi_loss"]

GATES = ("temperature", "activation")


class MoEParams(NamedTuple):
    """Parameters of a ``k``-expert Gaussian MoE on ``d``-dimensional inputs.

    beta1 : (k, d) gate slopes;  beta0 : (k,) gate intercepts;  tau : () temperature > 0;
    a : (k, d) expert slopes;  b : (k,) expert intercepts;  nu : (k,) expert variances > 0.
    """
    beta1: torch.Tensor
    beta0: torch.Tensor
    tau: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    nu: torch.Tensor

    @classmethod
    def from_arrays(cls, dtype=torch.float64, device="cpu", **values) -> "MoEParams":
        """Build from array-likes (lists, NumPy); 1-D ``beta1``/``a`` are read as ``d = 1``."""
        missing = set(cls._fields) - set(values)
        if missing:
            raise ValueError(f"MoEParams.from_arrays: missing {sorted(missing)}")
        t = {k: torch.as_tensor(np.asarray(v, dtype=float), dtype=dtype, device=device)
             for k, v in values.items()}
        for name in ("beta1", "a"):
            if t[name].ndim == 1:
                t[name] = t[name][:, None]
        return cls(**{f: t[f] for f in cls._fields})

    @property
    def k(self) -> int:
        return int(self.beta1.shape[0])

    @property
    def d(self) -> int:
        return int(self.beta1.shape[1])


def _check_params(params: MoEParams) -> None:
    if not isinstance(params, MoEParams):
        raise ValueError(f"params must be a MoEParams, got {type(params).__name__}")
    if params.beta1.ndim != 2:
        raise ValueError(f"beta1 must have shape (k, d), got {tuple(params.beta1.shape)}")
    k, d = params.beta1.shape
    shapes = {"beta0": (k,), "a": (k, d), "b": (k,), "nu": (k,), "tau": ()}
    for name, shape in shapes.items():
        got = tuple(getattr(params, name).shape)
        if got != shape:
            raise ValueError(f"{name} must have shape {shape} for k={k}, d={d}; got {got}")
    if not bool(params.tau > 0):
        raise ValueError(f"the temperature tau must be positive, got {float(params.tau)}")
    if not bool((params.nu > 0).all()):
        raise ValueError("the expert variances nu must be positive")


def _check_x(x: torch.Tensor, params: MoEParams) -> torch.Tensor:
    if not torch.is_tensor(x):
        raise ValueError("x must be a torch tensor of shape (n, d)")
    if x.ndim != 2 or x.shape[1] != params.d:
        raise ValueError(f"x must have shape (n, {params.d}), got {tuple(x.shape)}")
    return x


def gate_logits(x: torch.Tensor, params: MoEParams, gate: str = "temperature",
                activation: Callable[[torch.Tensor], torch.Tensor] = torch.tanh) -> torch.Tensor:
    """Logits (n, k) of the gate before the softmax.

    ``temperature``: ``(x beta1^T + beta0) / tau``; ``activation``:
    ``activation(x beta1^T) / tau + beta0``. The softmax is unchanged by adding one constant to
    all ``k`` logits, so a fit usually pins one expert's gate (e.g. ``beta1_k = 0, beta0_k = 0``).
    """
    _check_params(params)
    x = _check_x(x, params)
    linear = x @ params.beta1.T
    if gate == "temperature":
        return (linear + params.beta0) / params.tau
    if gate == "activation":
        return activation(linear) / params.tau + params.beta0
    raise ValueError(f"unknown gate {gate!r}; valid: {', '.join(GATES)}")


def gate_probs(x: torch.Tensor, params: MoEParams, gate: str = "temperature",
               activation: Callable[[torch.Tensor], torch.Tensor] = torch.tanh) -> torch.Tensor:
    """Gate probabilities g(x), shape (n, k), rows summing to one."""
    return torch.softmax(gate_logits(x, params, gate, activation), dim=1)


def moe_log_likelihood(x: torch.Tensor, y: torch.Tensor, params: MoEParams, gate: str = "temperature",
                       activation: Callable[[torch.Tensor], torch.Tensor] = torch.tanh) -> torch.Tensor:
    """Per-point conditional log-density ``log p(y_j | x_j)``, shape (n,), in nats.

    Computed as a log-sum-exp over experts of log-gate plus Gaussian log-density, so it stays
    finite where one gate probability underflows.
    """
    log_gate = torch.log_softmax(gate_logits(x, params, gate, activation), dim=1)
    if not torch.is_tensor(y) or y.shape != (x.shape[0],):
        raise ValueError(f"y must be a torch tensor of shape ({x.shape[0]},), got "
                         f"{tuple(y.shape) if torch.is_tensor(y) else type(y).__name__}")
    mean = x @ params.a.T + params.b                                   # (n, k)
    log_normal = -0.5 * (torch.log(2 * torch.pi * params.nu) + (y[:, None] - mean) ** 2 / params.nu)
    return torch.logsumexp(log_gate + log_normal, dim=1)


def moe_sample(params: MoEParams, n: int, generator: torch.Generator | None = None,
               gate: str = "temperature",
               activation: Callable[[torch.Tensor], torch.Tensor] = torch.tanh,
               x_range: tuple[float, float] = (-1.0, 1.0)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw ``n`` pairs: ``x ~ U[x_range]^d``, expert ``z ~ g(x)``, ``y ~ N(a_z^T x + b_z, nu_z)``.

    Returns ``x`` (n, d), ``y`` (n,) and the expert labels ``z`` (n,), on the parameters'
    device and dtype.
    """
    _check_params(params)
    n = positive_int("n", n)
    lo, hi = map(float, x_range)
    if not hi > lo:
        raise ValueError(f"x_range must be (low, high) with high > low, got {x_range}")
    kw = dict(dtype=params.beta1.dtype, device=params.beta1.device, generator=generator)
    x = lo + (hi - lo) * torch.rand(int(n), params.d, **kw)
    probs = gate_probs(x, params, gate, activation)
    z = torch.multinomial(probs, 1, generator=generator)[:, 0]
    mean = (x * params.a[z]).sum(dim=1) + params.b[z]
    y = mean + torch.sqrt(params.nu[z]) * torch.randn(int(n), **kw)
    return x, y, z


def _as_measure(weights, atoms, name: str) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(weights, dtype=float)
    th = np.asarray(atoms, dtype=float)
    if th.ndim == 1:
        th = th[:, None]
    if w.ndim != 1 or th.ndim != 2 or th.shape[0] != w.shape[0] or w.size == 0:
        raise ValueError(f"{name}: weights must be (k,) and atoms (k, p) with the same k >= 1; "
                         f"got {w.shape} and {th.shape}")
    if np.any(w < 0) or not np.all(np.isfinite(w)) or not np.all(np.isfinite(th)):
        raise ValueError(f"{name}: weights must be finite and non-negative, atoms finite")
    return w, th


def voronoi_cells(atoms, true_atoms, assignment: str = "voronoi") -> list[np.ndarray]:
    """Indices of the fitted atoms in each true atom's cell; a list of ``k*`` index arrays.

    ``voronoi``: atom ``i`` belongs to the cell ``A_j`` of its nearest true atom (Euclidean;
    ties go to the lower ``j``), as in the Voronoi losses of the MoE literature; a cell may be
    empty or hold several atoms. ``hungarian``: the one-to-one matching of minimum total
    distance (:func:`scipy.optimize.linear_sum_assignment`); needs ``k >= k*`` and leaves
    ``k - k*`` atoms unassigned, which suits an exact-specified fit (``k = k*``).
    """
    th = np.atleast_2d(np.asarray(atoms, dtype=float))
    ts = np.atleast_2d(np.asarray(true_atoms, dtype=float))
    if th.shape[1] != ts.shape[1]:
        raise ValueError(f"atoms have {th.shape[1]} coordinates, true atoms {ts.shape[1]}")
    dist = np.linalg.norm(th[:, None, :] - ts[None, :, :], axis=2)      # (k, k*)
    if assignment == "voronoi":
        nearest = dist.argmin(axis=1)
        return [np.flatnonzero(nearest == j) for j in range(ts.shape[0])]
    if assignment == "hungarian":
        if th.shape[0] < ts.shape[0]:
            raise ValueError(f"hungarian assignment needs at least as many fitted atoms ({th.shape[0]}) "
                             f"as true ones ({ts.shape[0]})")
        rows, cols = linear_sum_assignment(dist)
        cells = [np.array([], dtype=int) for _ in range(ts.shape[0])]
        for i, j in zip(rows, cols):
            cells[j] = np.array([i])
        return cells
    raise ValueError(f"unknown assignment {assignment!r}; valid: voronoi, hungarian")


def voronoi_loss(weights, atoms, true_weights, true_atoms, exponents: tuple[float, float] = (1.0, 2.0),
                 assignment: str = "voronoi") -> float:
    """Voronoi loss between a fitted mixing measure ``sum_i w_i delta_{theta_i}`` and the true one.

        D(G, G*) = sum_j | sum_{i in A_j} w_i - w*_j |
                 + sum_j sum_{i in A_j} w_i ||theta_i - theta*_j||^{r(|A_j|)}

    with ``r = exponents[0]`` for a cell holding one fitted atom and ``exponents[1]`` for a cell
    holding several. For an MoE the weights are ``exp(gate intercept)`` and an atom stacks the
    other parameters of one expert (a common gate normalisation must be fixed first).

    Parameters
    ----------
    weights : (k,) non-negative;  atoms : (k, p) (or (k,) for p = 1)
    true_weights : (k*,);  true_atoms : (k*, p)
    exponents : (r_single, r_multi), positive
    assignment : ``"voronoi"`` (nearest true atom) or ``"hungarian"`` (one-to-one, k >= k*)

    Returns
    -------
    float >= 0; zero when the two measures coincide, and unchanged by relabelling the atoms.
    """
    w, th = _as_measure(weights, atoms, "fitted measure")
    ws, ts = _as_measure(true_weights, true_atoms, "true measure")
    r_single, r_multi = map(float, exponents)
    if r_single <= 0 or r_multi <= 0:
        raise ValueError(f"exponents must be positive, got {exponents}")
    cells = voronoi_cells(th, ts, assignment)
    loss = 0.0
    for j, cell in enumerate(cells):
        loss += abs(w[cell].sum() - ws[j])
        if cell.size:
            r = r_single if cell.size == 1 else r_multi
            loss += float((w[cell] * np.linalg.norm(th[cell] - ts[j], axis=1) ** r).sum())
    return float(loss)
