"""Small torch networks and auto-encoder training, shared by the notebooks.

- :class:`MLP`: a fully connected network from a list of layer sizes;
- :class:`SkipReconstruction`: ``r(x) = x + scale * f(x)`` around a network ``f``;
- :func:`train_denoising_autoencoder`: squared-error DAE with Gaussian corruption;
- :func:`train_contractive_autoencoder`: reconstruction plus ``sigma^2`` times the squared
  Frobenius norm of the Jacobian of the whole reconstruction map;
- :func:`contractive_penalty`: that squared Frobenius norm, per example, via autograd;
- :func:`score_from_autoencoder`: ``(r(x) - x) / sigma^2``, the score estimate of a
  small-noise regularised auto-encoder.

Every random draw (initial weights, mini-batches, corruption) comes from a
``torch.Generator`` seeded by the caller, so one seed gives one trained network on one
machine, whatever the global torch state.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .validation import positive_int, positive_float

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}
LR_SCHEDULES = ("constant", "cosine")


def _check_device(device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but torch sees no GPU")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; use 'cpu' or 'cuda'")
    return dev


class MLP(nn.Module):
    """Fully connected network ``sizes[0] -> ... -> sizes[-1]``, linear output layer.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first and output last; at least two entries, all positive.
    activation : str
        Hidden non-linearity, one of ``ACTIVATIONS`` (``"softplus"``, ``"tanh"``, ...).
    seed : int or None
        If given, the weights are drawn from a ``torch.Generator`` with this seed (same
        law as torch's default: uniform on ``+-1/sqrt(fan_in)``), so the network does not
        depend on the global torch state. If None, torch's default initialisation.

    Input of shape ``(n, sizes[0])``, output of shape ``(n, sizes[-1])``.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "softplus", seed: int | None = None):
        super().__init__()
        try:
            sizes = None if isinstance(sizes, (str, bytes)) else list(sizes)
        except TypeError:
            sizes = None
        if sizes is None or len(sizes) < 2:
            raise ValueError(f"sizes must list at least an input and an output width, got {sizes!r}")
        sizes = [positive_int("every layer size", s) for s in sizes]
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        self.sizes = sizes
        self.activation = activation
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
        self.net = nn.Sequential(*layers)
        if seed is not None:
            gen = torch.Generator().manual_seed(int(seed))
            with torch.no_grad():
                for layer in self.net:
                    if isinstance(layer, nn.Linear):
                        bound = 1.0 / math.sqrt(layer.in_features)
                        for p in (layer.weight, layer.bias):
                            p.copy_(torch.rand(p.shape, generator=gen) * 2 * bound - bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"MLP input must have shape (n, {self.sizes[0]}), got {tuple(x.shape)}")
        return self.net(x)

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, activation={self.activation!r}"


class SkipReconstruction(nn.Module):
    """Reconstruction map ``r(x) = x + scale * f(x)`` around a network ``f``.

    With ``scale = sigma^2`` the network ``f`` outputs the score estimate itself, so its
    outputs are of order one whatever ``sigma`` is; the map ``r`` and the training
    criterion are unchanged (the theory does not depend on how ``r`` is parametrised).

    Parameters
    ----------
    f : nn.Module
        Maps ``(n, d)`` to ``(n, d)``.
    scale : float
        Positive multiplier of ``f``.
    """

    def __init__(self, f: nn.Module, scale: float):
        super().__init__()
        self.f = f
        self.scale = positive_float("scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.f(x)

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}"


def _build_model(model, d, hidden, activation, seed, residual, sigma, dev):
    if model is None:
        model = MLP([d, *hidden, d], activation=activation, seed=seed)
        if residual:
            model = SkipReconstruction(model, sigma ** 2)
    elif residual:
        raise ValueError("residual=True builds its own network; pass model=None or residual=False")
    return model.to(dev)


def _as_data(data, device: torch.device) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(data, dtype=np.float32) if not torch.is_tensor(data) else data)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"data must have shape (n, d) with n >= 1, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("data holds NaN or infinite values")
    return x.to(device=device, dtype=torch.float32)


def _fit(model: nn.Module, data: torch.Tensor, loss_fn, *, steps: int, batch_size: int, lr: float,
         lr_schedule: str, gen: torch.Generator) -> np.ndarray:
    """Adam on mini-batches drawn with replacement; returns the loss of every step."""
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule {lr_schedule!r}; valid: {', '.join(LR_SCHEDULES)}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
             if lr_schedule == "cosine" else None)
    losses = torch.empty(steps, device=data.device)
    n = data.shape[0]
    model.train()
    for step in range(steps):
        idx = torch.randint(n, (batch_size,), generator=gen, device=data.device)
        loss = loss_fn(data[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses[step] = loss.detach()
    model.eval()
    return losses.cpu().numpy()


def _prepare_training(data, sigma, steps, batch_size, lr, device, model, hidden, activation, seed,
                      residual):
    """Validated settings, data on the device, the network, and the seeded generator."""
    sigma, steps = positive_float("sigma", sigma), positive_int("steps", steps)
    batch_size, lr = positive_int("batch_size", batch_size), positive_float("lr", lr)
    dev = _check_device(device)
    x = _as_data(data, dev)
    model = _build_model(model, x.shape[1], hidden, activation, seed, residual, sigma, dev)
    gen = torch.Generator(device=dev).manual_seed(int(seed) + 1)
    return sigma, steps, batch_size, lr, dev, x, model, gen


def train_denoising_autoencoder(data, sigma: float, *, hidden: Sequence[int] = (64, 64),
                                activation: str = "softplus", steps: int = 1500,
                                batch_size: int = 512, lr: float = 2e-3,
                                lr_schedule: str = "constant", seed: int = 0,
                                device: str = "cpu", model: nn.Module | None = None,
                                residual: bool = False, antithetic: bool = False):
    """Train ``r`` to minimise ``E ||r(x + sigma * eps) - x||^2``, ``eps ~ N(0, I)``.

    The reconstruction target is the clean point; a fresh corruption is drawn for every
    mini-batch. The optimum of this criterion is the posterior mean ``E[x | x~]``, so
    ``(r(x~) - x~) / sigma^2`` is the score of the data density smoothed by
    ``N(0, sigma^2 I)`` (and tends to the score of the data density as ``sigma -> 0``).

    Parameters
    ----------
    data : array (n, d), or (n,) for d = 1
        Clean training points (float; converted to float32 on ``device``).
    sigma : float
        Standard deviation of the Gaussian corruption, in the units of ``data``.
    hidden : sequence of int
        Hidden widths of the :class:`MLP` built when ``model`` is None.
    activation : str
        Hidden non-linearity of that MLP.
    steps, batch_size : int
        Number of Adam steps, and points per step (drawn with replacement).
    lr : float
        Adam learning rate.
    lr_schedule : {"constant", "cosine"}
        Constant rate, or cosine decay to zero over ``steps``.
    seed : int
        Seeds the generator of initial weights, mini-batches and corruptions.
    device : {"cpu", "cuda"}
    model : nn.Module, optional
        A network mapping ``(n, d) -> (n, d)`` to train in place instead of a new MLP.
    residual : bool
        Parametrise ``r(x) = x + sigma^2 * MLP(x)`` (:class:`SkipReconstruction`) instead
        of ``r = MLP``; same criterion, better conditioned when ``sigma`` is small.
    antithetic : bool
        Draw the corruptions in pairs ``+eps, -eps`` (each point is used twice per step);
        the expected loss is unchanged and the gradient noise much smaller.

    Returns
    -------
    model : nn.Module
        The trained network, in eval mode, on ``device``.
    losses : ndarray (steps,)
        The mini-batch loss (mean over points of the squared error summed over dims).
    """
    sigma, steps, batch_size, lr, dev, x, model, gen = _prepare_training(
        data, sigma, steps, batch_size, lr, device, model, hidden, activation, seed, residual)

    def loss_fn(xb):
        noise = torch.randn(xb.shape, generator=gen, device=dev)
        if antithetic:
            noise, xb = torch.cat([noise, -noise]), torch.cat([xb, xb])
        return ((model(xb + sigma * noise) - xb) ** 2).sum(dim=1).mean()

    losses = _fit(model, x, loss_fn, steps=steps, batch_size=batch_size, lr=lr,
                  lr_schedule=lr_schedule, gen=gen)
    return model, losses


def jacobian_rows(r: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                  create_graph: bool = False) -> torch.Tensor:
    """Per-example Jacobian ``dr/dx`` of a row-wise map, shape ``(n, d_out, d_in)``.

    ``r`` must act on each row independently (an MLP does); one backward pass per output
    dimension. ``x`` must be a float tensor of shape ``(n, d_in)``.
    """
    if not torch.is_tensor(x) or x.ndim != 2:
        raise ValueError(f"x must be a torch tensor of shape (n, d), got {getattr(x, 'shape', type(x))}")
    x = x if x.requires_grad else x.detach().requires_grad_(True)
    out = r(x)
    if out.ndim != 2 or out.shape[0] != x.shape[0]:
        raise ValueError(f"r must map (n, d_in) to (n, d_out), got output {tuple(out.shape)}")
    rows = []
    for i in range(out.shape[1]):
        (g,) = torch.autograd.grad(out[:, i].sum(), x, create_graph=create_graph, retain_graph=True)
        rows.append(g)
    return torch.stack(rows, dim=1)


def contractive_penalty(r: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                        create_graph: bool = True) -> torch.Tensor:
    """Squared Frobenius norm ``||dr/dx (x_i)||_F^2`` for each row ``x_i``, shape ``(n,)``.

    Computed by autograd (``create_graph=True`` keeps it differentiable for training).
    """
    return (jacobian_rows(r, x, create_graph=create_graph) ** 2).sum(dim=(1, 2))


def train_contractive_autoencoder(data, sigma: float, *, hidden: Sequence[int] = (64, 64),
                                  activation: str = "softplus", steps: int = 1500,
                                  batch_size: int = 512, lr: float = 2e-3,
                                  lr_schedule: str = "constant", seed: int = 0,
                                  device: str = "cpu", model: nn.Module | None = None,
                                  residual: bool = False):
    """Train ``r`` to minimise ``E [||r(x) - x||^2 + sigma^2 ||dr/dx||_F^2]`` on clean data.

    This is the reconstruction-contractive criterion: the contraction acts on the whole
    reconstruction map, and ``sigma^2`` plays the role of the corruption variance of the
    matching denoising auto-encoder. With ``residual=True`` (``r = x + sigma^2 f``) the
    criterion is, up to a constant and a factor ``sigma^4``, Hyvarinen's score-matching
    objective for ``f`` plus ``sigma^2 ||df/dx||_F^2``. Parameters and return value as in
    :func:`train_denoising_autoencoder` (``sigma`` sets the penalty weight ``sigma^2``;
    there is no corruption, hence no ``antithetic``).
    """
    sigma, steps, batch_size, lr, dev, x, model, gen = _prepare_training(
        data, sigma, steps, batch_size, lr, device, model, hidden, activation, seed, residual)

    def loss_fn(xb):
        xb = xb.detach().requires_grad_(True)
        rec = ((model(xb) - xb) ** 2).sum(dim=1)
        return (rec + sigma ** 2 * contractive_penalty(model, xb)).mean()

    losses = _fit(model, x, loss_fn, steps=steps, batch_size=batch_size, lr=lr,
                  lr_schedule=lr_schedule, gen=gen)
    return model, losses


def score_from_autoencoder(r: Callable[[torch.Tensor], torch.Tensor], x, sigma: float) -> np.ndarray:
    """Score estimate ``(r(x) - x) / sigma^2`` of a small-noise DAE or CAE, as NumPy.

    Parameters
    ----------
    r : callable
        The trained reconstruction map, ``(n, d) -> (n, d)`` torch tensors.
    x : array (n, d), or (n,) for d = 1
        Points at which to estimate the score (moved to the device of ``r``'s parameters).
    sigma : float
        The corruption standard deviation (DAE) or penalty scale (CAE) used in training.

    Returns
    -------
    ndarray (n, d), float64
    """
    sigma = positive_float("sigma", sigma)
    dev = next(r.parameters()).device if isinstance(r, nn.Module) else torch.device("cpu")
    xt = _as_data(x, dev)
    with torch.no_grad():
        out = r(xt)
    if out.shape != xt.shape:
        raise ValueError(f"r must map (n, d) to (n, d), got {tuple(xt.shape)} -> {tuple(out.shape)}")
    return ((out - xt) / sigma ** 2).double().cpu().numpy()
