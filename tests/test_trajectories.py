import numpy as np
import pytest
import torch
from scipy.spatial.distance import mahalanobis

from shared.trajectories import ade_fde_best_of_n, amd_amv, imle_loss


def test_best_of_n_by_hand():
    truth = np.zeros((1, 2, 2))
    pred = np.array([[[[3.0, 4.0], [3.0, 4.0]], [[1.0, 0.0], [0.0, 2.0]]]])  # (1, 2, 2, 2)
    out = ade_fde_best_of_n(pred, truth)
    assert out["ade"] == pytest.approx(1.5) and out["fde"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="predictions"):
        ade_fde_best_of_n(pred[0], truth)


def test_imle_pulls_only_the_closest_candidate():
    target = torch.zeros(2, 3, 2)
    cand = torch.stack([torch.full((3, 2), 1.0), torch.full((3, 2), 2.0)])[None].repeat(2, 1, 1, 1).requires_grad_(True)
    loss = imle_loss(cand, target)
    assert float(loss.detach()) == pytest.approx(6.0)
    loss.backward()
    assert torch.all(cand.grad[:, 1] == 0) and torch.all(cand.grad[:, 0] != 0)


def test_amd_amv_reduce_to_mahalanobis_and_covariance_for_one_gaussian():
    rng = np.random.default_rng(0)
    cov = np.array([[1.0, 0.3], [0.3, 0.5]])
    pred = rng.multivariate_normal([1.0, 2.0], cov, size=(1, 3000))[:, :, None, :]  # (1, N, 1, 2)
    truth = np.array([[[2.0, 1.0]]])
    out = amd_amv(pred, truth, max_components=1)
    emp_mean, emp_cov = pred[0, :, 0].mean(0), np.cov(pred[0, :, 0].T, bias=True)
    assert out["amd"] == pytest.approx(mahalanobis(truth[0, 0], emp_mean, np.linalg.inv(emp_cov)), rel=1e-3)
    assert out["amv"] == pytest.approx(np.linalg.eigvalsh(emp_cov).max(), rel=1e-3)


def test_amd_prefers_a_spread_that_covers_the_truth():
    rng = np.random.default_rng(1)
    truth = np.zeros((2, 3, 2))
    tight_off = rng.normal(1.0, 0.05, size=(2, 200, 3, 2))
    covering = rng.normal(0.0, 1.0, size=(2, 200, 3, 2))
    assert amd_amv(covering, truth)["amd"] < amd_amv(tight_off, truth)["amd"]


def test_pedestrian_scenes_shapes_speeds_turns_and_determinism():
    from shared.trajectories import pedestrian_scenes
    out = pedestrian_scenes(300, np.random.default_rng(0), repulsion=0.0, noise_sd=0.0)
    pos = out["positions"]
    assert pos.shape[1:] == (20, 2) and len(out["scene"]) == len(pos) == len(out["turned"])
    assert set(np.bincount(out["scene"])) <= set(range(3, 7))
    step = np.linalg.norm(np.diff(pos, axis=1), axis=-1)
    assert step.min() >= 0.35 - 1e-9 and step.max() <= 0.6 + 1e-9  # constant speed without noise or repulsion
    assert np.mean(out["turned"]) == pytest.approx(0.2, abs=0.03)
    again = pedestrian_scenes(300, np.random.default_rng(0), repulsion=0.0, noise_sd=0.0)
    np.testing.assert_array_equal(again["positions"], pos)
    with pytest.raises(ValueError, match="agents"):
        pedestrian_scenes(1, np.random.default_rng(0), agents=(4, 2))


def test_segment_mahalanobis_falls_back_to_the_weights_when_every_mass_underflows():
    from shared.trajectories import _segment_mahalanobis
    # one component far off the segment with a tiny covariance: its mass along the segment is exp(-huge) = 0
    means = np.array([[0.0, 50.0], [0.0, -50.0]])
    covs = np.array([np.eye(2) * 1e-4, np.eye(2) * 4e-4])
    w = np.array([0.5, 0.5])
    center, y = np.zeros(2), np.array([1.0, 0.0])
    got = _segment_mahalanobis(center, y, w, means, covs)
    prec = 0.5 * np.linalg.inv(covs[0]) + 0.5 * np.linalg.inv(covs[1])
    v = center - y
    assert np.isfinite(got) and got == pytest.approx(np.sqrt(v @ prec @ v))
