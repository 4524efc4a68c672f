"""Seeding, determinism and device selection.

One seed sets Python's, NumPy's and torch's generators. In the quick profile torch runs
single-threaded with deterministic algorithms, so that a notebook prints the same
numbers every time on one machine (nbval compares them).
"""
from __future__ import annotations

import os
import platform
import random
import sys
from importlib.metadata import PackageNotFoundError, version

import numpy as np

DEVICES = ("auto", "cpu", "cuda")


def _torch():
    """torch if the caller has imported it, else None.

    Importing torch costs a second or two, so a notebook that does not use it does not
    pay for it here. A notebook that uses torch imports it before :func:`setup`.
    """
    return sys.modules.get("torch")


def seed_everything(seed: int, deterministic: bool = True) -> np.random.Generator:
    """Seed Python, NumPy and (if imported) torch; return a fresh ``numpy.random.Generator``.

    Parameters
    ----------
    seed : int
        Non-negative integer seed.
    deterministic : bool
        If True, torch uses one thread and deterministic algorithms (slower on a GPU,
        identical across runs on one machine).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = _torch()
    if torch is not None:
        torch.manual_seed(seed)
        if deterministic:
            torch.set_num_threads(1)
            torch.use_deterministic_algorithms(True)
            # cuBLAS needs this to honour deterministic algorithms on a GPU.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        else:
            torch.use_deterministic_algorithms(False)
    return np.random.default_rng(seed)


def select_device(device: str = "auto") -> str:
    """Return ``"cuda"`` or ``"cpu"``; ``"auto"`` takes a GPU when torch (if imported) sees one."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")
    torch = _torch()
    has_cuda = torch is not None and torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise ValueError("device 'cuda' asked for, but torch sees no GPU; use 'auto' or 'cpu'")
    if device == "auto":
        return "cuda" if has_cuda else "cpu"
    return device


def setup(seed: int, device: str = "auto", profile: str = "quick") -> tuple[np.random.Generator, str]:
    """Seed everything and pick the device as the notebook skeleton does.

    Torch is deterministic and single-threaded in the quick profile, free elsewhere.
    Returns ``(rng, device)``.
    """
    rng = seed_everything(seed, deterministic=(profile == "quick"))
    return rng, select_device(device)


def environment_info(device: str) -> dict:
    """Versions and device, as recorded in every ledger."""
    torch = _torch()
    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = None
    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch_version,
        "platform": f"{sys.platform}-{platform.machine()}",
        "device": device,
    }
    if device == "cuda" and torch is not None:
        info["device_name"] = torch.cuda.get_device_name(0)
    return info
