"""shared.repro: one seed sets every generator; device selection."""
import random

import numpy as np
import pytest
import torch

from shared.repro import environment_info, seed_everything, select_device, setup


def test_same_seed_same_draws_everywhere():
    def draw(seed):
        rng = seed_everything(seed)
        return random.random(), np.random.rand(), torch.rand(1).item(), rng.random()
    assert draw(3) == draw(3)
    assert draw(3) != draw(4)


def test_quick_profile_is_deterministic_single_threaded():
    setup(0, "cpu", "quick")
    assert torch.are_deterministic_algorithms_enabled() and torch.get_num_threads() == 1
    setup(0, "cpu", "full")
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        seed_everything(seed)


def test_device_selection():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto") == expected
    assert select_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'; valid: auto, cpu, cuda"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch sees no GPU"):
            select_device("cuda")


def test_environment_info_names_versions():
    info = environment_info("cpu")
    assert info["numpy"] == np.__version__ and info["torch"] == torch.__version__
    assert info["device"] == "cpu"
