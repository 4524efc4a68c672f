"""Unit tests of shared.cmb: camb spectra, noise, Gaussian and exact low-l likelihoods."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from shared.cmb import (LCDM_PARAMS, bin_edges, binning_matrix, camb_spectra, exact_lowl_loglik,
                        knox_covariance, noise_spectrum, simulate_lowl_spectra,
                        wishart_lowl_loglik)

FID = dict(ombh2=0.02236, omch2=0.1202, theta100=1.04090, tau=0.0544, lnAs=3.045, ns=0.9649)


def test_camb_spectra_shapes_units_cache_and_h0():
    cls, h0 = camb_spectra(FID, 60)
    assert set(cls) == {"TT", "EE", "BB", "TE"} and cls["TT"].shape == (61,)
    d_l = cls["TT"] * np.arange(61) * np.arange(1, 62) / (2 * np.pi)
    assert 700 < d_l[20] < 1300  # muK^2 on the Sachs-Wolfe plateau
    assert 67.0 < h0 < 67.5  # theta fixed at the Planck 2018 value
    again, _ = camb_spectra(tuple(FID[k] for k in LCDM_PARAMS), 60)
    assert again["TT"] is cls["TT"]  # served from the cache
    with pytest.raises(ValueError):
        cls["TT"][2] = 0.0
    with pytest.raises(ValueError, match="missing"):
        camb_spectra({"ombh2": 0.02}, 60)
    with pytest.raises(ValueError, match="lmax"):
        camb_spectra(FID, 1)


def test_noise_spectrum_formula():
    ell = np.array([0, 100, 1000])
    n = noise_spectrum(ell, 33.0, 7.3)
    white = (33.0 * np.pi / 10800) ** 2
    assert n[0] == pytest.approx(white)
    sigma = 7.3 * np.pi / 10800 / np.sqrt(8 * np.log(2))
    assert n[2] == pytest.approx(white * np.exp(1000 * 1001 * sigma ** 2))
    assert np.all(noise_spectrum(ell, 10.0, 0.0) == pytest.approx((10 * np.pi / 10800) ** 2))
    with pytest.raises(ValueError):
        noise_spectrum(ell, -1.0, 5.0)


def test_knox_covariance_matches_wishart_moments():
    # full sky: (2l+1) C^hat ~ Wishart(2l+1, C); check the 3 x 3 (TT, TE, EE) covariance
    ell, C = 10, np.array([[2.0, 0.6], [0.6, 1.0]])
    cov = knox_covariance([ell], C[0, 0], C[0, 1], C[1, 1], 1.0)[0]
    draws = stats.wishart(df=2 * ell + 1, scale=C).rvs(200_000, random_state=np.random.default_rng(0))
    draws = draws / (2 * ell + 1)
    vec = np.stack([draws[:, 0, 0], draws[:, 0, 1], draws[:, 1, 1]], axis=1)
    np.testing.assert_allclose(np.cov(vec.T), cov, rtol=0.03, atol=1e-4)
    half = knox_covariance([ell], C[0, 0], C[0, 1], C[1, 1], {"TT": 0.5, "TE": 0.5, "EE": 0.5})[0]
    np.testing.assert_allclose(half, 2 * cov)
    assert np.all(np.linalg.eigvalsh(knox_covariance([ell], 2.0, 0.6, 1.0,
                                                     {"TT": 0.57, "TE": 0.5, "EE": 0.5})[0]) > 0)


def test_binning_averages_and_last_bin():
    edges = bin_edges(30, 95, 30)
    np.testing.assert_array_equal(edges, [30, 60, 90, 96])
    ell = np.arange(30, 96)
    P = binning_matrix(ell, edges)
    np.testing.assert_allclose(P @ ell.astype(float), [44.5, 74.5, 92.5])
    np.testing.assert_allclose(P.sum(axis=1), 1.0)


@given(st.floats(0.2, 5.0), st.floats(0.2, 5.0), st.integers(2, 40), st.sampled_from([1.0, 0.5, 0.37]))
@settings(max_examples=40, deadline=None)
def test_exact_lowl_is_scaled_chi2_density(chat, c, ell, fsky):
    nu = (2 * ell + 1) * fsky
    ref = stats.chi2(nu).logpdf(nu * chat / c) + np.log(nu / c)
    assert exact_lowl_loglik([chat], [c], [ell], fsky) == pytest.approx(ref, rel=1e-9, abs=1e-9)


def test_exact_lowl_vectorised_and_peaks_at_the_estimate():
    ell = np.arange(2, 30)
    chat = np.full(ell.size, 1.3)
    scales = np.linspace(0.5, 2.0, 301)
    ll = exact_lowl_loglik(chat, scales[:, None] * np.ones(ell.size), ell, 0.5)
    assert ll.shape == (301,)
    # as a function of C the log-likelihood is -(nu/2)(C^hat/C + ln C) + const: peak at C = C^hat
    assert scales[np.argmax(ll)] == pytest.approx(1.3, abs=1e-9)
    assert np.all(np.diff(ll[scales < 1.3]) > 0) and np.all(np.diff(ll[scales > 1.3]) < 0)


def test_wishart_lowl_matches_scipy():
    rng = np.random.default_rng(2)
    ell = np.array([2, 5, 11])
    for fsky in (1.0, 0.6):
        C = np.array([[[3.0, 0.4], [0.4, 0.5]], [[2.0, -0.2], [-0.2, 0.3]], [[1.0, 0.1], [0.1, 0.2]]])
        nu = (2 * ell + 1) * fsky
        chat = np.stack([stats.wishart(df=n, scale=c).rvs(random_state=rng) / n for n, c in zip(nu, C)])
        ref = sum(stats.wishart(df=n, scale=c).logpdf(n * a) + 3 * np.log(n) for n, c, a in zip(nu, C, chat))
        assert wishart_lowl_loglik(chat, C, ell, fsky) == pytest.approx(ref, rel=1e-10)
        # one field: the Wishart form reduces to the chi-square one
        one = wishart_lowl_loglik(chat[:, :1, :1], C[:, :1, :1], ell, fsky)
        assert one == pytest.approx(exact_lowl_loglik(chat[:, 0, 0], C[:, 0, 0], ell, fsky), rel=1e-10)


def test_simulated_lowl_spectra_follow_the_exact_model():
    rng = np.random.default_rng(3)
    ell = np.array([3, 20])
    sims = simulate_lowl_spectra(np.array([2.0, 0.5]), ell, 0.5, 20_000, rng)
    nu = (2 * ell + 1) * 0.5
    for j in range(2):
        x = nu[j] * sims[:, j] / [2.0, 0.5][j]
        assert stats.kstest(x, stats.chi2(nu[j]).cdf).pvalue > 1e-3
    with pytest.raises(ValueError):
        simulate_lowl_spectra(np.array([2.0, -1.0]), ell, 0.5, 5, rng)
