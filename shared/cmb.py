"""CMB power spectra and their likelihoods: camb spectra, instrument noise, the Knox
covariance of binned high-l spectra (whose Gaussian likelihood is
``shared.densities.gaussian_logpdf``) and exact full-sky (low-l) likelihoods.

Conventions: ``C_l`` in muK^2 (not ``D_l``), arrays indexed by multipole ``l`` from 0
unless an ``ell`` array is passed; spectra are ordered ``TT, EE, BB, TE`` as camb returns
them. ``fsky`` scales the number of modes per multipole, ``nu_l = (2l + 1) fsky``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
from scipy.special import gammaln, multigammaln

#: Order of the six base-LambdaCDM parameters taken by :func:`camb_spectra`.
LCDM_PARAMS = ("ombh2", "omch2", "theta100", "tau", "lnAs", "ns")
ARCMIN = np.pi / (180.0 * 60.0)


@lru_cache(maxsize=256)
def _camb_cached(values: tuple, lmax: int, lens_potential_accuracy: int, accuracy_boost: float,
                 mnu: float):
    import camb

    ombh2, omch2, theta100, tau, ln_as, ns = values
    pars = camb.CAMBparams()
    pars.set_cosmology(ombh2=ombh2, omch2=omch2, cosmomc_theta=theta100 / 100.0, tau=tau, mnu=mnu)
    pars.InitPower.set_params(As=np.exp(ln_as) * 1e-10, ns=ns)
    pars.set_for_lmax(lmax, lens_potential_accuracy=lens_potential_accuracy)
    pars.set_accuracy(AccuracyBoost=accuracy_boost)
    results = camb.get_results(pars)
    cls = results.get_total_cls(lmax, CMB_unit="muK", raw_cl=True)  # (lmax+1, 4): TT EE BB TE
    out = {name: np.ascontiguousarray(cls[:, j]) for j, name in enumerate(("TT", "EE", "BB", "TE"))}
    for arr in out.values():
        arr.setflags(write=False)  # cached: callers must not change them in place
    # H0 is derived from theta: take it from the background solution, in km/s/Mpc
    return out, float(results.hubble_parameter(0.0))


def camb_spectra(params: Mapping[str, float] | Sequence[float], lmax: int, *,
                 lens_potential_accuracy: int = 0, accuracy_boost: float = 1.0,
                 mnu: float = 0.06) -> tuple[dict[str, np.ndarray], float]:
    """Lensed CMB spectra of flat base-LambdaCDM from camb, cached in memory.

    Parameters
    ----------
    params : mapping with keys :data:`LCDM_PARAMS`, or a sequence in that order
        ``ombh2``, ``omch2``, ``theta100`` (100 x cosmomc_theta), ``tau``,
        ``lnAs`` (ln(10^10 A_s)), ``ns``.
    lmax : int
        Highest multipole (>= 2).
    lens_potential_accuracy, accuracy_boost : camb accuracy settings (part of the cache key).
    mnu : float
        Sum of neutrino masses in eV (one massive neutrino, as Planck's baseline).

    Returns
    -------
    cls : dict ``TT, EE, BB, TE`` -> read-only ndarray (lmax + 1,), C_l in muK^2
    H0 : float, derived Hubble constant in km/s/Mpc
    """
    if isinstance(params, Mapping):
        missing = [k for k in LCDM_PARAMS if k not in params]
        if missing:
            raise ValueError(f"camb_spectra: missing parameters {missing}; need {LCDM_PARAMS}")
        values = tuple(float(params[k]) for k in LCDM_PARAMS)
    else:
        values = tuple(float(v) for v in params)
        if len(values) != len(LCDM_PARAMS):
            raise ValueError(f"camb_spectra: need {len(LCDM_PARAMS)} values {LCDM_PARAMS}, got {len(values)}")
    if not all(np.isfinite(values)):
        raise ValueError(f"camb_spectra: parameters must be finite, got {values}")
    if isinstance(lmax, bool) or not isinstance(lmax, (int, np.integer)) or lmax < 2:
        raise ValueError(f"camb_spectra: lmax must be an integer >= 2, got {lmax!r}")
    return _camb_cached(values, int(lmax), int(lens_potential_accuracy), float(accuracy_boost), float(mnu))


def noise_spectrum(ell, noise_uk_arcmin: float, fwhm_arcmin: float) -> np.ndarray:
    """White noise deconvolved by a Gaussian beam (Knox 1995).

    ``N_l = (Delta * arcmin)^2 * exp(l (l + 1) sigma_b^2)`` with
    ``sigma_b = FWHM / sqrt(8 ln 2)`` in radians.

    ell : array of multipoles (>= 0); noise_uk_arcmin : map depth in muK-arcmin (>= 0);
    fwhm_arcmin : beam full width at half maximum in arcmin (>= 0).
    Returns ndarray shaped like ``ell``, in muK^2.
    """
    ell = np.asarray(ell, dtype=float)
    if np.any(ell < 0):
        raise ValueError("noise_spectrum: multipoles must be >= 0")
    if not (np.isfinite(noise_uk_arcmin) and noise_uk_arcmin >= 0):
        raise ValueError(f"noise_spectrum: noise must be finite and >= 0, got {noise_uk_arcmin!r}")
    if not (np.isfinite(fwhm_arcmin) and fwhm_arcmin >= 0):
        raise ValueError(f"noise_spectrum: fwhm must be finite and >= 0, got {fwhm_arcmin!r}")
    sigma_b = fwhm_arcmin * ARCMIN / np.sqrt(8.0 * np.log(2.0))
    return (noise_uk_arcmin * ARCMIN) ** 2 * np.exp(ell * (ell + 1.0) * sigma_b ** 2)


def _fsky_pair(fsky, names):
    if isinstance(fsky, Mapping):
        f = {n: float(fsky[n]) for n in names}
    else:
        f = {n: float(fsky) for n in names}
    if not all(0 < v <= 1 for v in f.values()):
        raise ValueError(f"fsky must lie in (0, 1], got {f}")
    return f


def knox_covariance(ell, cl_tt, cl_te, cl_ee, fsky) -> np.ndarray:
    """Gaussian covariance of the (TT, TE, EE) estimates at each multipole.

    ``Cov(XY, WZ)_l = (C^XW C^YZ + C^XZ C^YW) / ((2l + 1) sqrt(f_XY f_WZ))``, where the
    ``C`` include noise. A different ``fsky`` per spectrum (``{'TT': .57, 'TE': .5, 'EE': .5}``)
    enters as a geometric mean, which keeps every 3 x 3 block positive semidefinite.

    Returns ndarray (len(ell), 3, 3), order TT, TE, EE, in muK^4.
    """
    ell = np.asarray(ell, dtype=float)
    tt, te, ee = (np.broadcast_to(np.asarray(c, dtype=float), ell.shape) for c in (cl_tt, cl_te, cl_ee))
    if np.any(ell < 1):
        raise ValueError("knox_covariance: multipoles must be >= 1")
    f = _fsky_pair(fsky, ("TT", "TE", "EE"))
    cov = np.empty(ell.shape + (3, 3))
    cov[:, 0, 0] = 2 * tt ** 2
    cov[:, 2, 2] = 2 * ee ** 2
    cov[:, 1, 1] = tt * ee + te ** 2
    cov[:, 0, 1] = cov[:, 1, 0] = 2 * tt * te
    cov[:, 2, 1] = cov[:, 1, 2] = 2 * ee * te
    cov[:, 0, 2] = cov[:, 2, 0] = 2 * te ** 2
    s = np.sqrt(np.array([f["TT"], f["TE"], f["EE"]]))
    return cov / ((2 * ell + 1)[:, None, None] * np.outer(s, s)[None])


def bin_edges(lmin: int, lmax: int, width: int) -> np.ndarray:
    """Edges ``[lmin, lmin + width, ...]`` of bins of ``width`` multipoles; the last bin
    ends at ``lmax`` inclusive (it may be narrower). Bin b holds ``edges[b] <= l < edges[b+1]``."""
    if not (0 <= lmin <= lmax) or width < 1:
        raise ValueError(f"bin_edges: need 0 <= lmin <= lmax and width >= 1, got {lmin}, {lmax}, {width}")
    edges = np.arange(lmin, lmax + 1, width)
    return np.append(edges, lmax + 1)


def binning_matrix(ell, edges) -> np.ndarray:
    """Flat-weight binning operator P (n_bins, len(ell)): ``C_b = P @ C_l`` averages each bin.

    A binned covariance follows as ``P Cov_l P^T`` for multipoles that are independent."""
    ell = np.asarray(ell)
    edges = np.asarray(edges)
    which = np.searchsorted(edges, ell, side="right") - 1
    P = np.zeros((len(edges) - 1, ell.size))
    inside = (which >= 0) & (which < len(edges) - 1)
    P[which[inside], np.nonzero(inside)[0]] = 1.0
    counts = P.sum(axis=1, keepdims=True)
    if np.any(counts == 0):
        raise ValueError("binning_matrix: a bin holds no multipole of ell")
    return P / counts


def _dof(ell, fsky):
    ell = np.asarray(ell, dtype=float)
    if np.any(ell < 0):
        raise ValueError("multipoles must be >= 0")
    if not (np.all(np.asarray(fsky) > 0) and np.all(np.asarray(fsky) <= 1)):
        raise ValueError(f"fsky must lie in (0, 1], got {fsky!r}")
    return (2 * ell + 1) * fsky


def exact_lowl_loglik(cl_hat, cl_model, ell, fsky: float = 1.0) -> np.ndarray | float:
    """Exact full-sky log-likelihood of one spectrum estimate, with fsky-scaled modes.

    With ``nu_l = (2l + 1) fsky``, ``nu_l C^hat_l / C_l ~ chi^2_{nu_l}``; the log-density of
    ``C^hat_l`` (Jacobian ``nu_l / C_l`` included) is summed over ``l``. ``C`` include noise.

    cl_hat : (L,); cl_model : (L,) or (m, L); ell : (L,) multipoles. Returns float or (m,).
    """
    nu = _dof(ell, fsky)
    cl_hat = np.asarray(cl_hat, dtype=float)
    cl_model = np.asarray(cl_model, dtype=float)
    if cl_hat.shape != nu.shape or cl_model.shape[-1] != nu.size:
        raise ValueError(f"exact_lowl_loglik: shapes {cl_hat.shape}, {cl_model.shape} vs ell {nu.shape}")
    if np.any(cl_hat <= 0) or np.any(cl_model <= 0):
        raise ValueError("exact_lowl_loglik: spectra must be positive")
    x = nu * cl_hat / cl_model
    k = nu / 2
    logpdf = (k - 1) * np.log(x) - x / 2 - k * np.log(2) - gammaln(k) + np.log(nu / cl_model)
    return np.sum(logpdf, axis=-1) if cl_model.ndim == 2 else float(np.sum(logpdf))


def wishart_lowl_loglik(cl_hat, cl_model, ell, fsky: float = 1.0) -> float:
    """Exact full-sky log-likelihood of a matrix of spectrum estimates (e.g. T and E).

    ``nu_l C^hat_l ~ Wishart_p(nu_l, C_l)`` with ``nu_l = (2l + 1) fsky`` (must exceed p - 1);
    returns the summed log-density of the ``C^hat_l`` (Jacobian ``nu^{p(p+1)/2}`` included).

    cl_hat, cl_model : (L, p, p) symmetric positive definite; ell : (L,).
    """
    nu = _dof(ell, fsky)
    a = np.asarray(cl_hat, dtype=float)
    c = np.asarray(cl_model, dtype=float)
    if a.ndim != 3 or a.shape != c.shape or a.shape[0] != nu.size or a.shape[1] != a.shape[2]:
        raise ValueError(f"wishart_lowl_loglik: need (L, p, p) arrays matching ell, got {a.shape}, {c.shape}")
    p = a.shape[1]
    if np.any(nu <= p - 1):
        raise ValueError(f"wishart_lowl_loglik: need (2l+1) fsky > p - 1 = {p - 1}")
    total = 0.0
    for nu_l, a_l, c_l in zip(nu, a, c):
        x = nu_l * a_l
        _, logdet_x = np.linalg.slogdet(x)
        _, logdet_c = np.linalg.slogdet(c_l)
        tr = np.trace(np.linalg.solve(c_l, x))
        total += (0.5 * (nu_l - p - 1) * logdet_x - 0.5 * tr - 0.5 * nu_l * p * np.log(2)
                  - 0.5 * nu_l * logdet_c - multigammaln(nu_l / 2, p) + 0.5 * p * (p + 1) * np.log(nu_l))
    return float(total)


def simulate_lowl_spectra(cl, ell, fsky: float, n_sims: int, rng: np.random.Generator) -> np.ndarray:
    """Draw spectrum estimates from the same model :func:`exact_lowl_loglik` assumes.

    ``C^hat_l = C_l chi^2_{nu_l} / nu_l``; returns ndarray (n_sims, L)."""
    nu = _dof(ell, fsky)
    cl = np.asarray(cl, dtype=float)
    if cl.shape != nu.shape or np.any(cl <= 0):
        raise ValueError("simulate_lowl_spectra: cl must be positive and shaped like ell")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("simulate_lowl_spectra: rng must be a numpy.random.Generator")
    return cl * rng.chisquare(nu, size=(int(n_sims), nu.size)) / nu
