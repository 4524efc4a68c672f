"""Diffusion models in low dimension: noise schedules, a time-conditioned MLP, denoising losses,
likelihood-ratio fine-tuning losses, samplers and probability-flow log-likelihoods.

Conventions. A schedule gives ``x_t = alpha(t) x_0 + sigma(t) eps`` with ``eps ~ N(0, I)``, the
forward SDE ``dx = f(t) x dt + g(t) dW`` with the same marginals, and a grid from ``t_max``
(noise) to ``t_min`` (data). Networks predict ``eps``; a *score* is any callable
``score(x, t) -> (B, d)`` with ``t`` a ``(B,)`` tensor, whether it comes from a network
(:func:`score_from_eps`) or from a closed form (``shared.toy2d.GaussianMixture.score``).
Every random draw comes from a caller's ``torch.Generator``.

- schedules: :class:`VPSchedule` (Song et al. 2021), :class:`VESchedule`, :class:`EDMSchedule`
  (Karras et al. 2022, ``t = sigma``);
- :class:`TimeMLP`: ``(x, t[, s], label) -> R^d`` with sinusoidal time embeddings;
- training: :func:`draw_t_noise`, :func:`denoising_errors` (per-sample, at a caller's shared
  ``(t, eps)``), :func:`dsm_loss`, :func:`train_eps_model`;
- likelihood-ratio losses: :func:`diffusion_dpo_loss`, :func:`mapo_loss`, :func:`ddo_loss`;
- samplers: :func:`ddpm_sample`, :func:`ddim_sample`, :func:`pf_ode_sample`,
  :func:`reverse_sde_sample`, on the generic fixed-step :func:`ode_solve` and :func:`sde_solve`;
- log-likelihood: :func:`ode_loglik` (exact divergence, torchdiffeq) and :func:`pf_ode_loglik`.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchdiffeq import odeint

from .nn import MLP
from .validation import non_negative_float, positive_float, positive_int

Score = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LOG_2PI = math.log(2.0 * math.pi)
REDUCTIONS = ("mean", "none")


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; valid: {', '.join(REDUCTIONS)}")
    return loss.mean() if reduction == "mean" else loss


def _as_time(t, like: torch.Tensor | None = None) -> torch.Tensor:
    """``t`` as a floating tensor: ``like``'s dtype and device when given, else its own float dtype."""
    if like is not None:
        dtype = like.dtype if like.is_floating_point() else torch.get_default_dtype()
        return torch.as_tensor(t, dtype=dtype, device=like.device)
    if torch.is_tensor(t) and t.is_floating_point():
        return t
    return torch.as_tensor(t, dtype=torch.get_default_dtype())


def _batch_time(t, x: torch.Tensor) -> torch.Tensor:
    """``t`` (a float or a (B,) tensor) as a (B,) tensor matching ``x``."""
    t = _as_time(t, x)
    if t.ndim == 0:
        return t.expand(x.shape[0])
    if t.shape != (x.shape[0],):
        raise ValueError(f"t must be a scalar or have shape ({x.shape[0]},), got {tuple(t.shape)}")
    return t


# ============================================================== noise schedules
class _Schedule:
    """Shared interface. Subclasses define alpha, sigma, drift, g2, log_snr_derivative and t_min/t_max."""

    t_min: float
    t_max: float

    def log_snr(self, t) -> torch.Tensor:
        """``log(alpha^2 / sigma^2)``."""
        return 2.0 * (torch.log(self.alpha(t)) - torch.log(self.sigma(t)))

    def elbo_weight(self, t) -> torch.Tensor:
        """``-0.5 d log_snr / dt``: the continuous-time negative ELBO of an eps-model is
        ``E_{t ~ U(t_min, t_max)} [(t_max - t_min) * elbo_weight(t) * sum_dims (eps - eps_hat)^2]``
        plus terms that do not depend on the network (Kingma et al. 2021)."""
        return -0.5 * self.log_snr_derivative(t)

    def embed_time(self, t) -> torch.Tensor:
        """The O(1) time value a network sees."""
        return _as_time(t)

    def timesteps(self, n: int) -> torch.Tensor:
        """``n + 1`` times decreasing from ``t_max`` to ``t_min`` (uniform)."""
        n = positive_int("n", n)
        return torch.linspace(self.t_max, self.t_min, n + 1)

    def sample_t(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Training times, shape (n,): uniform on ``[t_min, t_max]``."""
        n = positive_int("n", n)
        return self.t_min + (self.t_max - self.t_min) * torch.rand(n, generator=generator)

    def prior_std(self) -> float:
        """Standard deviation of the sampling prior ``N(0, (alpha^2 + sigma^2)(t_max) I)``
        (the marginal at ``t_max`` for unit-variance data)."""
        return float(torch.sqrt(self.alpha(self.t_max) ** 2 + self.sigma(self.t_max) ** 2))

    def prior_sample(self, n: int, d: int, generator: torch.Generator) -> torch.Tensor:
        """Draws from the prior, shape (n, d)."""
        n, d = positive_int("n", n), positive_int("d", d)
        return self.prior_std() * torch.randn(n, d, generator=generator)

    def prior_logpdf(self, x: torch.Tensor) -> torch.Tensor:
        """Log-density of the prior at ``x`` (B, d), shape (B,), in nats."""
        s = self.prior_std()
        d = x.shape[1]
        return -0.5 * (x ** 2).sum(1) / s ** 2 - d * (math.log(s) + 0.5 * LOG_2PI)


class VPSchedule(_Schedule):
    """Variance-preserving schedule with a linear ``beta(t) = beta_min + t (beta_max - beta_min)``:
    ``alpha(t) = exp(-int_0^t beta / 2)``, ``sigma^2 = 1 - alpha^2``, ``f = -beta/2``, ``g^2 = beta``."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, t_min: float = 1e-3, t_max: float = 1.0):
        self.beta_min = positive_float("beta_min", beta_min)
        self.beta_max = positive_float("beta_max", beta_max)
        if self.beta_max <= self.beta_min:
            raise ValueError(f"beta_max must exceed beta_min, got {beta_min} and {beta_max}")
        self.t_min = positive_float("t_min", t_min)
        self.t_max = positive_float("t_max", t_max)
        if self.t_max <= self.t_min:
            raise ValueError(f"t_max must exceed t_min, got {t_min} and {t_max}")

    def __repr__(self) -> str:
        return f"VPSchedule(beta_min={self.beta_min}, beta_max={self.beta_max}, t_min={self.t_min}, t_max={self.t_max})"

    def beta(self, t) -> torch.Tensor:
        return self.beta_min + _as_time(t) * (self.beta_max - self.beta_min)

    def _log_alpha(self, t) -> torch.Tensor:
        t = _as_time(t)
        return -0.25 * t ** 2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def alpha(self, t) -> torch.Tensor:
        return torch.exp(self._log_alpha(t))

    def sigma(self, t) -> torch.Tensor:
        return torch.sqrt(-torch.expm1(2.0 * self._log_alpha(t)))

    def drift(self, t) -> torch.Tensor:
        return -0.5 * self.beta(t)

    def g2(self, t) -> torch.Tensor:
        return self.beta(t)

    def log_snr_derivative(self, t) -> torch.Tensor:
        return -self.beta(t) / self.sigma(t) ** 2


class VESchedule(_Schedule):
    """Variance-exploding schedule ``alpha = 1``, ``sigma(t) = sigma_min (sigma_max / sigma_min)^t``,
    ``f = 0``, ``g^2 = d sigma^2 / dt``."""

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, t_min: float = 0.0, t_max: float = 1.0):
        self.sigma_min = positive_float("sigma_min", sigma_min)
        self.sigma_max = positive_float("sigma_max", sigma_max)
        if self.sigma_max <= self.sigma_min:
            raise ValueError(f"sigma_max must exceed sigma_min, got {sigma_min} and {sigma_max}")
        self.t_min = non_negative_float("t_min", t_min)
        self.t_max = positive_float("t_max", t_max)
        if self.t_max <= self.t_min:
            raise ValueError(f"t_max must exceed t_min, got {t_min} and {t_max}")
        self._log_ratio = math.log(self.sigma_max / self.sigma_min)

    def __repr__(self) -> str:
        return f"VESchedule(sigma_min={self.sigma_min}, sigma_max={self.sigma_max})"

    def alpha(self, t) -> torch.Tensor:
        return torch.ones_like(_as_time(t))

    def sigma(self, t) -> torch.Tensor:
        return self.sigma_min * torch.exp(_as_time(t) * self._log_ratio)

    def drift(self, t) -> torch.Tensor:
        return torch.zeros_like(_as_time(t))

    def g2(self, t) -> torch.Tensor:
        return 2.0 * self._log_ratio * self.sigma(t) ** 2

    def log_snr_derivative(self, t) -> torch.Tensor:
        return torch.full_like(_as_time(t), -2.0 * self._log_ratio)


class EDMSchedule(_Schedule):
    """EDM (Karras et al. 2022): time is the noise level, ``alpha = 1``, ``sigma(t) = t`` on
    ``[sigma_min, sigma_max]``, ``f = 0``, ``g^2 = 2 t``; the sampling grid is the ``rho`` grid and
    training times are log-normal (``P_mean``, ``P_std``) clipped to the range."""

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0,
                 p_mean: float = -1.2, p_std: float = 1.2):
        self.t_min = self.sigma_min = positive_float("sigma_min", sigma_min)
        self.t_max = self.sigma_max = positive_float("sigma_max", sigma_max)
        if self.sigma_max <= self.sigma_min:
            raise ValueError(f"sigma_max must exceed sigma_min, got {sigma_min} and {sigma_max}")
        self.rho = positive_float("rho", rho)
        self.p_mean = float(p_mean)
        self.p_std = positive_float("p_std", p_std)

    def __repr__(self) -> str:
        return f"EDMSchedule(sigma_min={self.sigma_min}, sigma_max={self.sigma_max}, rho={self.rho})"

    def alpha(self, t) -> torch.Tensor:
        return torch.ones_like(_as_time(t))

    def sigma(self, t) -> torch.Tensor:
        return _as_time(t).clone()

    def drift(self, t) -> torch.Tensor:
        return torch.zeros_like(_as_time(t))

    def g2(self, t) -> torch.Tensor:
        return 2.0 * _as_time(t)

    def log_snr_derivative(self, t) -> torch.Tensor:
        return -2.0 / _as_time(t)

    def embed_time(self, t) -> torch.Tensor:
        """EDM's ``c_noise = log(sigma) / 4``."""
        return 0.25 * torch.log(_as_time(t))

    def timesteps(self, n: int) -> torch.Tensor:
        """The ``rho`` grid: ``(sigma_max^(1/rho) + i/n (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho``, i = 0..n."""
        n = positive_int("n", n)
        i = torch.arange(n + 1, dtype=torch.get_default_dtype()) / n
        lo, hi = self.sigma_min ** (1.0 / self.rho), self.sigma_max ** (1.0 / self.rho)
        grid = (hi + i * (lo - hi)) ** self.rho
        grid[0], grid[-1] = self.sigma_max, self.sigma_min
        return grid

    def sample_t(self, n: int, generator: torch.Generator) -> torch.Tensor:
        n = positive_int("n", n)
        t = torch.exp(self.p_mean + self.p_std * torch.randn(n, generator=generator))
        return t.clamp(self.sigma_min, self.sigma_max)


# ============================================================== network
class TimeMLP(nn.Module):
    """MLP ``(x, t_1..t_m, label) -> R^dim`` for eps-, score-, velocity- or denoiser-prediction.

    Each time (a float or a (B,) tensor of O(1) values: pass ``schedule.embed_time(t)``) is
    embedded as ``[t, sin(w_k t), cos(w_k t)]`` with ``embed_dim // 2`` frequencies ``w_k``
    geometric from 1 to 200; ``n_classes > 0`` adds a learned class embedding of width
    ``embed_dim``. The embeddings are concatenated to ``x`` and passed through a SiLU MLP with
    the given hidden widths and a linear output.

    Parameters
    ----------
    dim : int, data dimension (input and output width)
    hidden : sequence of int, hidden widths
    n_times : int, number of time arguments (2 for two-time maps such as CTM's ``g(x, t, s)``)
    embed_dim : int, even, width of each sinusoidal embedding (plus the raw time)
    n_classes : int, number of labels for a class-conditional model (0: unconditional)
    seed : int or None, seeds the initial weights independently of the global torch state
    """

    def __init__(self, dim: int, hidden: Sequence[int] = (128, 128, 128), *, n_times: int = 1,
                 embed_dim: int = 32, n_classes: int = 0, seed: int | None = None):
        super().__init__()
        self.dim = positive_int("dim", dim)
        self.n_times = positive_int("n_times", n_times)
        self.embed_dim = positive_int("embed_dim", embed_dim)
        if self.embed_dim % 2:
            raise ValueError(f"embed_dim must be even, got {embed_dim}")
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 0:
            raise ValueError(f"n_classes must be a non-negative integer, got {n_classes!r}")
        self.n_classes = int(n_classes)
        self.register_buffer("freqs", torch.exp(torch.linspace(0.0, math.log(200.0), self.embed_dim // 2)))
        width = self.dim + self.n_times * (self.embed_dim + 1) + (self.embed_dim if self.n_classes else 0)
        self.net = MLP([width, *hidden, self.dim], activation="silu", seed=seed)
        if self.n_classes:
            self.label_embedding = nn.Embedding(self.n_classes, self.embed_dim)
            if seed is not None:
                gen = torch.Generator().manual_seed(int(seed) + 1)
                with torch.no_grad():
                    self.label_embedding.weight.copy_(torch.randn(self.label_embedding.weight.shape, generator=gen))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_times={self.n_times}, embed_dim={self.embed_dim}, n_classes={self.n_classes}"

    def _embed(self, t, x: torch.Tensor) -> torch.Tensor:
        t = _batch_time(t, x)[:, None]
        wt = t * self.freqs
        return torch.cat([t, torch.sin(wt), torch.cos(wt)], dim=1)

    def forward(self, x: torch.Tensor, *times, labels: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"TimeMLP input must have shape (B, {self.dim}), got {tuple(x.shape)}")
        if len(times) != self.n_times:
            raise ValueError(f"TimeMLP was built with n_times={self.n_times}, got {len(times)} time arguments")
        parts = [x] + [self._embed(t, x) for t in times]
        if self.n_classes:
            if labels is None:
                raise ValueError(f"this TimeMLP is class-conditional ({self.n_classes} classes): pass labels")
            labels = torch.as_tensor(labels, device=x.device).long()
            if labels.shape != (x.shape[0],) or labels.min() < 0 or labels.max() >= self.n_classes:
                raise ValueError(f"labels must be (B,) integers in [0, {self.n_classes})")
            parts.append(self.label_embedding(labels))
        elif labels is not None:
            raise ValueError("labels given to an unconditional TimeMLP (n_classes=0)")
        return self.net(torch.cat(parts, dim=1))


def score_from_eps(model: nn.Module, schedule: _Schedule, labels: torch.Tensor | None = None) -> Score:
    """The score ``-eps_model(x, t) / sigma(t)`` of an eps-prediction network as a callable ``(x, t) -> (B, d)``."""
    def score(x: torch.Tensor, t) -> torch.Tensor:
        t = _batch_time(t, x)
        kwargs = {} if labels is None else {"labels": labels}
        return -model(x, schedule.embed_time(t), **kwargs) / schedule.sigma(t)[:, None]
    return score


# ============================================================== training
def draw_t_noise(n: int, dim: int, schedule: _Schedule, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One ``(t, eps)`` draw per sample: times (n,) from ``schedule.sample_t`` and noise (n, dim).
    Pass the same draw to a model and its reference so that their errors differ only by the model."""
    t = schedule.sample_t(n, generator)
    return t, torch.randn(positive_int("n", n), positive_int("dim", dim), generator=generator)


def denoising_errors(model: nn.Module, x0: torch.Tensor, schedule: _Schedule, t: torch.Tensor, noise: torch.Tensor,
                     labels: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample ``mean_dims (eps - eps_model(x_t, t))^2`` at ``x_t = alpha(t) x0 + sigma(t) eps``, shape (B,).

    ``x0`` (B, d), ``t`` (B,), ``noise`` (B, d). Differentiable in the model's parameters.
    """
    if x0.ndim != 2 or noise.shape != x0.shape:
        raise ValueError(f"x0 and noise must both have shape (B, d), got {tuple(x0.shape)} and {tuple(noise.shape)}")
    t = _batch_time(t, x0)
    xt = schedule.alpha(t)[:, None] * x0 + schedule.sigma(t)[:, None] * noise
    kwargs = {} if labels is None else {"labels": labels}
    return ((noise - model(xt, schedule.embed_time(t), **kwargs)) ** 2).mean(1)


def dsm_loss(model: nn.Module, x0: torch.Tensor, schedule: _Schedule, generator: torch.Generator,
             labels: torch.Tensor | None = None) -> torch.Tensor:
    """Denoising score matching (eps-prediction) at a fresh ``(t, eps)`` draw, averaged over the batch."""
    t, noise = draw_t_noise(x0.shape[0], x0.shape[1], schedule, generator)
    return denoising_errors(model, x0, schedule, t.to(x0), noise.to(x0), labels).mean()


def train_eps_model(model: nn.Module, data, schedule: _Schedule, *, steps: int, batch_size: int, lr: float,
                    generator: torch.Generator, labels=None) -> np.ndarray:
    """Adam on :func:`dsm_loss` over minibatches of ``data`` (N, d) drawn with ``generator``; in place.

    ``labels`` (N,) integers for a class-conditional model. Returns the per-step losses, shape (steps,).
    """
    steps, batch_size = positive_int("steps", steps), positive_int("batch_size", batch_size)
    lr = positive_float("lr", lr)
    data = torch.as_tensor(np.asarray(data) if not torch.is_tensor(data) else data, dtype=torch.float32)
    if data.ndim != 2:
        raise ValueError(f"data must have shape (N, d), got {tuple(data.shape)}")
    if labels is not None:
        labels = torch.as_tensor(labels).long()
        if labels.shape != (data.shape[0],):
            raise ValueError(f"labels must have shape ({data.shape[0]},), got {tuple(labels.shape)}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = np.empty(steps)
    for k in range(steps):
        idx = torch.randint(data.shape[0], (batch_size,), generator=generator)
        loss = dsm_loss(model, data[idx], schedule, generator, None if labels is None else labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses[k] = loss.item()
    return losses


# ============================================================== likelihood-ratio losses
def diffusion_dpo_loss(err_w: torch.Tensor, err_w_ref: torch.Tensor, err_l: torch.Tensor, err_l_ref: torch.Tensor,
                       *, beta: float, reduction: str = "mean") -> torch.Tensor:
    """Diffusion-DPO (Wallace et al. 2024): ``-log sigmoid(-beta/2 [(e_w - e_w^ref) - (e_l - e_l^ref)])``.

    Each argument is (B,) per-sample denoising errors (:func:`denoising_errors`) of the trained
    model or the frozen reference on the preferred (w) or rejected (l) item, at one shared
    ``(t, eps)`` per item; the 1/2 follows the official training script.
    """
    beta = positive_float("beta", beta)
    gap = (err_w - err_w_ref) - (err_l - err_l_ref)
    return _reduce(-F.logsigmoid(-0.5 * beta * gap), reduction)


def _mapo_link(err: torch.Tensor, a: float) -> torch.Tensor:
    """``a e / (exp(a e) - 1)``, equal to 1 at e = 0 and decreasing in e."""
    ae = a * err
    small = ae.abs() < 1e-6
    return torch.where(small, 1.0 - 0.5 * ae, ae / torch.expm1(torch.where(small, torch.ones_like(ae), ae)))


def mapo_loss(err_w: torch.Tensor, err_l: torch.Tensor, *, beta: float = 0.1, a: float = 0.5,
              n_timesteps: int = 1000) -> torch.Tensor:
    """MaPO (Hong et al.): ``mean(e_w) - beta * mean(log sigmoid(T [s(e_w) - s(e_l)]))`` with the bounded
    decreasing link ``s(e) = a e / (exp(a e) - 1)`` (``a`` is the official ``snr_value``, ``T`` the
    number of diffusion steps). No reference model. ``err_w``, ``err_l``: (B,) per-sample errors."""
    beta, a = positive_float("beta", beta), positive_float("a", a)
    n_timesteps = positive_int("n_timesteps", n_timesteps)
    if err_w.shape != err_l.shape:
        raise ValueError(f"err_w and err_l must have the same shape, got {tuple(err_w.shape)} and {tuple(err_l.shape)}")
    margin = _mapo_link(err_w, a) - _mapo_link(err_l, a)
    return err_w.mean() - beta * F.logsigmoid(n_timesteps * margin).mean()


def ddo_loss(logratio_data: torch.Tensor, logratio_neg: torch.Tensor, *, alpha: float = 1.0,
             beta: float = 1.0) -> torch.Tensor:
    """Direct Discriminative Optimization (Zheng et al. 2025): the GAN discriminator loss of
    ``d(x) = sigmoid(beta r(x))``, ``r = log p_theta - log p_ref``, with data as positives and
    reference samples as negatives: ``-mean log d(x_data) - alpha mean log(1 - d(x_neg))``.

    ``logratio_data`` (N,) and ``logratio_neg`` (M,) are the caller's estimates of ``r`` (for a
    diffusion model, from ELBO differences at shared ``(t, eps)``). Returns a scalar.
    """
    alpha, beta = positive_float("alpha", alpha), positive_float("beta", beta)
    return -F.logsigmoid(beta * logratio_data).mean() - alpha * F.logsigmoid(-beta * logratio_neg).mean()


# ============================================================== integrators and samplers
def _check_times(times) -> torch.Tensor:
    times = torch.as_tensor(times)
    if times.ndim != 1 or times.shape[0] < 2:
        raise ValueError("times must be a 1-D grid of at least two points")
    steps = times[1:] - times[:-1]
    if not (torch.all(steps > 0) or torch.all(steps < 0)):
        raise ValueError("times must be strictly monotone")
    return times


def ode_solve(velocity: Callable, x: torch.Tensor, times, method: str = "heun", return_path: bool = False):
    """Integrate ``dx/dt = velocity(x, t)`` (t a (B,) tensor) over the grid ``times`` (either direction).

    ``method``: ``"euler"``, ``"heun"`` (2nd order, two evaluations per step) or ``"rk4"``. Returns
    the end point (B, d), or with ``return_path`` the whole path (len(times), B, d). No gradients.
    """
    if method not in ("euler", "heun", "rk4"):
        raise ValueError(f"unknown method {method!r}; valid: euler, heun, rk4")
    times = _check_times(times).to(x)
    path = [x]
    with torch.no_grad():
        for t0, t1 in zip(times[:-1], times[1:]):
            h = t1 - t0
            k1 = velocity(x, _batch_time(t0, x))
            if method == "euler":
                x = x + h * k1
            elif method == "heun":
                k2 = velocity(x + h * k1, _batch_time(t1, x))
                x = x + 0.5 * h * (k1 + k2)
            else:
                tm = _batch_time(t0 + 0.5 * h, x)
                k2 = velocity(x + 0.5 * h * k1, tm)
                k3 = velocity(x + 0.5 * h * k2, tm)
                k4 = velocity(x + h * k3, _batch_time(t1, x))
                x = x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
            if return_path:
                path.append(x)
    return torch.stack(path) if return_path else x


def sde_solve(drift: Callable, diffusion: Callable, x: torch.Tensor, times, generator: torch.Generator,
              return_path: bool = False):
    """Euler-Maruyama for ``dx = drift(x, t) dt + diffusion(t) dW`` over ``times`` (either direction:
    a decreasing grid integrates a reverse-time SDE, with noise of variance ``diffusion^2 |dt|``).

    ``diffusion(t)`` returns a float or a (B,) tensor. Returns the end point (B, d) or the path.
    """
    times = _check_times(times).to(x)
    path = [x]
    with torch.no_grad():
        for t0, t1 in zip(times[:-1], times[1:]):
            h = t1 - t0
            tb = _batch_time(t0, x)
            g = _as_time(diffusion(tb), x)
            g = g[:, None] if g.ndim == 1 else g
            x = x + h * drift(x, tb) + g * torch.sqrt(h.abs()) * torch.randn(x.shape, generator=generator).to(x)
            if return_path:
                path.append(x)
    return torch.stack(path) if return_path else x


def pf_ode_velocity(score: Score, schedule: _Schedule) -> Callable:
    """The probability-flow velocity ``f(t) x - g^2(t)/2 score(x, t)``, whose flow has the diffusion's marginals."""
    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = _batch_time(t, x)
        return schedule.drift(t)[:, None] * x - 0.5 * schedule.g2(t)[:, None] * score(x, t)
    return velocity


def _tweedie(score: Score, schedule: _Schedule, x: torch.Tensor) -> torch.Tensor:
    t = _batch_time(schedule.t_min, x)
    s, a = schedule.sigma(t)[:, None], schedule.alpha(t)[:, None]
    with torch.no_grad():
        return (x + s ** 2 * score(x, t)) / a


def ddim_sample(score: Score, schedule: _Schedule, x: torch.Tensor, n_steps: int, eta: float = 0.0,
                generator: torch.Generator | None = None, denoise: bool = True) -> torch.Tensor:
    """DDIM (Song et al. 2021) from ``x`` at ``t_max`` down ``schedule.timesteps(n_steps)``.

    Each step predicts ``x0 = (x + sigma_t^2 score)/alpha_t`` and ``eps = -sigma_t score`` and moves to
    ``alpha_s x0 + sqrt(sigma_s^2 - c^2) eps + c z`` with ``c^2 = eta^2`` times the DDPM posterior
    variance: ``eta = 0`` is deterministic, ``eta = 1`` is ancestral sampling. ``denoise`` ends with the
    Tweedie step at ``t_min``. Returns (B, d).
    """
    n_steps = positive_int("n_steps", n_steps)
    eta = non_negative_float("eta", eta)
    if eta > 0 and generator is None:
        raise ValueError("eta > 0 draws noise: pass a torch.Generator")
    times = schedule.timesteps(n_steps).to(x)
    with torch.no_grad():
        for t0, t1 in zip(times[:-1], times[1:]):
            tb = _batch_time(t0, x)
            a_t, s_t, a_s, s_s = schedule.alpha(t0), schedule.sigma(t0), schedule.alpha(t1), schedule.sigma(t1)
            sc = score(x, tb)
            x0 = (x + s_t ** 2 * sc) / a_t
            eps = -s_t * sc
            var_ts = s_t ** 2 - (a_t / a_s) ** 2 * s_s ** 2  # variance of x_t given x_s
            c2 = (eta ** 2 * var_ts * s_s ** 2 / s_t ** 2).clamp(min=0.0)
            x = a_s * x0 + torch.sqrt((s_s ** 2 - c2).clamp(min=0.0)) * eps
            if eta > 0:
                x = x + torch.sqrt(c2) * torch.randn(x.shape, generator=generator).to(x)
    return _tweedie(score, schedule, x) if denoise else x


def ddpm_sample(score: Score, schedule: _Schedule, x: torch.Tensor, n_steps: int, generator: torch.Generator,
                denoise: bool = True) -> torch.Tensor:
    """Ancestral (DDPM) sampling: draws ``x_s`` from the Gaussian posterior ``q(x_s | x_t, x0_hat)``
    at every step of ``schedule.timesteps(n_steps)`` (:func:`ddim_sample` with ``eta = 1``)."""
    return ddim_sample(score, schedule, x, n_steps, eta=1.0, generator=generator, denoise=denoise)


def pf_ode_sample(score: Score, schedule: _Schedule, x: torch.Tensor, n_steps: int, method: str = "heun",
                  denoise: bool = False) -> torch.Tensor:
    """Deterministic sampling along the probability-flow ODE on ``schedule.timesteps(n_steps)``
    (Heun by default, as EDM; every step is second order because the grid stops at ``t_min > 0``)."""
    x = ode_solve(pf_ode_velocity(score, schedule), x, schedule.timesteps(positive_int("n_steps", n_steps)), method)
    return _tweedie(score, schedule, x) if denoise else x


def reverse_sde_sample(score: Score, schedule: _Schedule, x: torch.Tensor, n_steps: int, generator: torch.Generator,
                       denoise: bool = True) -> torch.Tensor:
    """Euler-Maruyama on the reverse-time SDE ``dx = [f x - g^2 score] dt + g dW`` (Song et al. 2021)."""
    def drift(x, t):
        return schedule.drift(t)[:, None] * x - schedule.g2(t)[:, None] * score(x, t)
    x = sde_solve(drift, lambda t: torch.sqrt(schedule.g2(t)), x,
                  schedule.timesteps(positive_int("n_steps", n_steps)), generator)
    return _tweedie(score, schedule, x) if denoise else x


# ============================================================== log-likelihood
def _exact_divergence(velocity: Callable, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        v = velocity(x, t)
        div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for i in range(x.shape[1]):
            div = div + torch.autograd.grad(v[:, i].sum(), x, retain_graph=i + 1 < x.shape[1])[0][:, i]
    return v.detach(), div.detach()


def ode_loglik(velocity: Callable, x: torch.Tensor, times, prior_logpdf: Callable, method: str = "rk4") -> torch.Tensor:
    """Log-density at ``times[0]`` of points ``x`` (B, d) under the flow ``dx/dt = velocity(x, t)``.

    The points are carried along ``times`` (data end first, prior end last, either direction) with
    the change of variables ``d log p(x_t)/dt = -div v``, so
    ``log p(x) = prior_logpdf(x_end) + int div v dt``. The divergence is exact (one autograd pass
    per dimension: use for d up to a few tens). Integration by torchdiffeq on the given grid
    (``method`` any fixed-grid torchdiffeq method: "rk4", "midpoint", "euler"). Returns (B,) nats.
    """
    if method not in ("rk4", "midpoint", "euler"):
        raise ValueError(f"unknown method {method!r}; valid: rk4, midpoint, euler")
    if x.ndim != 2:
        raise ValueError(f"x must have shape (B, d), got {tuple(x.shape)}")
    times = _check_times(times).to(x)

    def rhs(t, state):
        v, div = _exact_divergence(velocity, state[0], _batch_time(t, state[0]))
        return v, div

    with torch.no_grad():
        xs, ls = odeint(rhs, (x.detach(), torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)), times,
                        method=method)
    return prior_logpdf(xs[-1]) + ls[-1]


def pf_ode_loglik(score: Score, schedule: _Schedule, x: torch.Tensor, n_steps: int = 100,
                  method: str = "rk4") -> torch.Tensor:
    """``log p_{t_min}(x)`` (B,) in nats of a diffusion model through its probability-flow ODE, integrated
    from ``t_min`` up the reversed ``schedule.timesteps(n_steps)`` grid to the prior at ``t_max``."""
    times = schedule.timesteps(positive_int("n_steps", n_steps)).flip(0)
    return ode_loglik(pf_ode_velocity(score, schedule), x, times, schedule.prior_logpdf, method)
