"""The EELS extraction steps as array operations on a batch of spectra (the pixels of a spectrum image).

Every row shares one energy axis and one set of choices (pre-edge window, E0, end of range, rbkg) made
once on the image's sum; each step is then one vectorised operation for all rows:

- ``power_law_fit`` / ``power_law``: A E^-r over the pre-edge window by linear least squares on
  log counts against log E (one 2-parameter solve, shared by every row);
- ``fourier_ratio``: Fourier-ratio deconvolution by FFT over the batch, as exspy's
  ``fourier_ratio_deconvolution`` does it (Hanning tapers, zero padding, Gaussian re-convolution,
  times the elastic intensity I0), with one low-loss spectrum for all rows or one per row;
- ``k_operator``: the channels of [E0, E_end] onto a uniform k grid (bin average where several channels
  share a k bin, linear interpolation elsewhere) as one sparse matrix;
- ``spline_operator``: the post-edge background mu0 as the cubic B-spline of Larch autobk's knots that
  minimises chi(R) below rbkg (plus autobk's end clamp), solved as one linear least-squares problem.

Why the spline replaces a per-pixel autobk: autobk's residual (the real and imaginary parts of the
windowed, k-weighted FFT of mu - spline below rbkg, and the clamp rows) is linear in the spline
coefficients, so its least-squares solution is a fixed linear map of the data: a matrix computed once
and applied to all pixels in one product (~1 us per pixel instead of ~50 ms for Larch's iterative
``leastsq``). The test suite compares it with Larch autobk on a sum.

Units: energies eV, k 1/angstrom, R angstrom. No pipeline imports here (physics only).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.fft import irfft, next_fast_len, rfft
from scipy.interpolate import BSpline

from ..errors import InputError
from ..units import ETOK

KSTEP = 0.05        # 1/A: the k grid (Larch's)
NFFT = 2048         # Larch autobk's FFT length
AUTOBK_DK = 0.1     # 1/A: autobk's window sill
# autobk's high-energy clamp on the last NCLAMP points (none at low k). Larch weighs it by 0.1 + 10 <residual^2>
# of the unnormalised residual, which for EELS counts pins chi there to ~0; a fixed weight of 100 (relative to
# the FFT rows) does the same in the linear problem (chi correlation 0.98 with autobk on the h-BN sum)
NCLAMP, CLAMP_HI = 3, 100.0
LOG_FLOOR = 1e-6    # relative floor under counts before the logarithm (empty channels of weak pixels)


def power_law_fit(energy: np.ndarray, counts: np.ndarray, window: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(log A, r) per row of ``counts`` (n, channels) ~ A E^-r fitted over ``window`` (eV) by linear least
    squares of log counts on log E (every row at once). InputError with fewer than 5 channels inside."""
    energy = np.asarray(energy, float)
    sel = (energy >= window[0]) & (energy <= window[1]) & (energy > 0)
    if sel.sum() < 5:
        raise InputError(f"the pre-edge window {window[0]:.0f}-{window[1]:.0f} eV holds {int(sel.sum())} channels "
                         "(need 5 or more): record from further below the edge")
    x = np.log(energy[sel])
    y = np.asarray(counts, float)[:, sel]
    floor = LOG_FLOOR * np.maximum(np.abs(y).mean(axis=1, keepdims=True), 1e-300)
    ly = np.log(np.maximum(y, floor))
    xm = x - x.mean()
    slope = (ly - ly.mean(axis=1, keepdims=True)) @ xm / (xm @ xm)
    log_a = ly.mean(axis=1) - slope * x.mean()
    return log_a, -slope


def power_law(energy: np.ndarray, log_a: np.ndarray, r: np.ndarray, dtype=np.float64) -> np.ndarray:
    """A E^-r on ``energy`` (eV) for each row's (log A, r): (n, channels) of ``dtype``; 0 at E <= 0."""
    energy = np.asarray(energy, float)
    le = np.log(np.where(energy > 0, energy, 1.0)).astype(dtype)
    out = np.exp(log_a.astype(dtype)[:, None] - r.astype(dtype)[:, None] * le[None, :])
    out[:, energy <= 0] = 0.0
    return out


def hanning_taper(rows: np.ndarray) -> np.ndarray:
    """A copy of ``rows`` with both ends tapered by half Hann windows over max(20, 2 %) channels (HyperSpy's
    ``hanning_taper``)."""
    out = np.array(rows, float, copy=True)
    n = max(20, int(round(0.02 * out.shape[-1])))
    win = np.hanning(2 * n)
    out[..., :n] *= win[:n]
    out[..., -n:] *= win[n:]
    return out


def power_law_extrapolation(energy: np.ndarray, rows: np.ndarray, window: int = 100, size: int = 100):
    """(energy, rows) extended by ``size`` channels of the power law fitted to each row's last ``window``
    channels (HyperSpy's ``power_law_extrapolation`` defaults)."""
    de = float(energy[1] - energy[0])
    log_a, r = power_law_fit(energy, rows, (energy[-window], energy[-1]))
    tail = energy[-1] + de * np.arange(1, size + 1)
    return np.concatenate([energy, tail]), np.concatenate([rows, power_law(tail, log_a, r)], axis=-1)


def fourier_ratio(edge: np.ndarray, ll_energy: np.ndarray, lowloss: np.ndarray, fwhm: float, threshold: float,
                  extrapolate_lowloss: bool = False) -> np.ndarray:
    """Single-scattering distribution of each row of ``edge`` (n, channels; background-subtracted
    core-loss counts on a uniform axis of the low-loss channel width) by Fourier-ratio deconvolution.

    lowloss: (1 or n, L) low-loss counts on ``ll_energy`` (eV, zero-loss peak at 0); fwhm (eV) of the
    re-convolving Gaussian (the zero-loss peak's); threshold (eV): end of the zero-loss peak, I0 is the
    low-loss intensity below it. Same operations as exspy's ``fourier_ratio_deconvolution`` without the
    core-loss extrapolation (the pipeline does not use it either)."""
    ll_energy = np.asarray(ll_energy, float)
    lowloss = np.atleast_2d(np.asarray(lowloss, float))
    if extrapolate_lowloss:
        ll_energy, lowloss = power_law_extrapolation(ll_energy, lowloss)
    i0 = lowloss[:, ll_energy < threshold].sum(axis=1)
    ll = hanning_taper(lowloss)
    cl = hanning_taper(edge)
    size = next_fast_len(ll.shape[-1] + cl.shape[-1] - 1)
    de = float(ll_energy[1] - ll_energy[0])
    x = ll_energy[0] + de * np.arange(size)
    sigma = fwhm / 2.3548
    gauss = np.exp(-0.5 * (x / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    ratio = rfft(gauss) * rfft(cl, n=size, axis=-1) / rfft(ll, n=size, axis=-1)
    return irfft(ratio, n=size, axis=-1)[:, :edge.shape[-1]] * i0[:, None]


def align_peaks(ll_energy: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each row of ``rows`` (n, L) shifted (FFT phase, sub-channel) so that its zero-loss peak (centroid of
    the five channels around the maximum) sits at 0 eV of ``ll_energy``."""
    rows = np.asarray(rows, float)
    de = float(ll_energy[1] - ll_energy[0])
    top = np.argmax(rows, axis=1)
    idx = np.clip(top[:, None] + np.arange(-2, 3)[None, :], 0, rows.shape[1] - 1)
    w = np.clip(np.take_along_axis(rows, idx, axis=1), 0, None)
    centre = (ll_energy[idx] * w).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-300)
    freq = np.fft.rfftfreq(rows.shape[1], d=de)
    phase = np.exp(2j * np.pi * freq[None, :] * centre[:, None])
    return irfft(rfft(rows, axis=1) * phase, n=rows.shape[1], axis=1)


def fade_energy(energy: np.ndarray, mu: np.ndarray, background, e0, e_end) -> np.ndarray:
    """(n,) energy (eV) where each row of the power-law-subtracted edge signal ``mu`` ((n, channels) or
    (channels,)) fades into the uncertainty of the extrapolated ``background`` (counts, same shape or one
    row): smoothed over 10 eV, below 10 % of its level at E0 + 20-80 eV (its maximum where the data hold no
    such window) or below 5 % of the background, past E0 + 50 eV and before ``e_end`` (eV); e_end where it
    does not. E0, e_end: one per row or one for all. The pipeline's rule for the end of the extended range."""
    from scipy.ndimage import gaussian_filter1d

    energy = np.asarray(energy, float)
    mu = np.atleast_2d(mu)
    de = float(np.median(np.diff(energy)))
    smooth = gaussian_filter1d(mu, max(10.0 / de, 1.0), axis=1, mode="nearest")
    rel = energy[None, :] - np.reshape(np.asarray(e0, float), (-1, 1))
    near = (rel >= 20) & (rel <= 80)
    level = np.array([np.median(row[m]) if m.any() else row.max()
                      for row, m in zip(smooth, np.broadcast_to(near, smooth.shape))])
    e_end = np.broadcast_to(np.asarray(e_end, float), (mu.shape[0],))
    faded = ((rel > 50) & (energy[None, :] < e_end[:, None])
             & ((smooth < 0.1 * level[:, None]) | (smooth < 0.05 * np.atleast_2d(background))))
    return np.where(faded.any(axis=1), energy[np.argmax(faded, axis=1)], e_end)


def k_grid(e0: float, e_end: float) -> np.ndarray:
    """Larch's uniform k grid 0, 0.05, ... up to sqrt(ETOK (e_end - e0)) (1/A)."""
    kmax = np.sqrt(ETOK * (e_end - e0))
    return KSTEP * np.arange(int(1.01 + kmax / KSTEP))


def k_operator(energy: np.ndarray, e0: float, k: np.ndarray, min_channels: int = 2) -> sparse.csr_matrix:
    """Sparse (len(k), channels) matrix taking the channels at energy >= e0 onto the grid ``k``: the mean of
    the channels inside each bin [k - dk/2, k + dk/2) holding at least ``min_channels``, linear
    interpolation between neighbouring channels elsewhere (the extraction's rule for one spectrum)."""
    energy = np.asarray(energy, float)
    above = np.nonzero(energy >= e0)[0]
    kc = np.sqrt(ETOK * (energy[above] - e0))
    dk = float(k[1] - k[0])
    rows, cols, vals = [], [], []
    b = np.floor((kc - k[0]) / dk + 0.5).astype(int)
    counts = np.bincount(b[(b >= 0) & (b < k.size)], minlength=k.size)
    for i, kk in enumerate(k):
        if counts[i] >= min_channels:
            members = above[b == i]
            rows += [i] * members.size
            cols += members.tolist()
            vals += [1.0 / members.size] * members.size
            continue
        j = int(np.searchsorted(kc, kk))
        if j == 0:
            rows.append(i), cols.append(above[0]), vals.append(1.0)
        elif j >= kc.size:
            rows.append(i), cols.append(above[-1]), vals.append(1.0)
        else:
            t = (kk - kc[j - 1]) / (kc[j] - kc[j - 1])
            rows += [i, i]
            cols += [above[j - 1], above[j]]
            vals += [1.0 - t, t]
    return sparse.csr_matrix((vals, (rows, cols)), shape=(k.size, energy.size))


def spline_operator(k: np.ndarray, kmin: float, kmax: float, rbkg: float, kweight: int) -> np.ndarray:
    """(len(k), len(k)) matrix Q with mu0 = Q mu on the grid ``k``: Larch autobk's spline (its knot count
    1 + 2 rbkg (kmax - kmin) / pi, at least 5; cubic; knots at evenly spaced k) fitted by least squares of
    autobk's residual, the FFT of (mu - mu0) k^kweight window(kmin, kmax) below rbkg and the clamp on the
    last three points, as one linear problem."""
    from larch.xafs.xafsft import ftwindow

    nspl = max(5, min(128, 1 + int(2 * rbkg * (kmax - kmin) / np.pi)))
    rstep = np.pi / (KSTEP * NFFT)
    irbkg = int(1 + (nspl - 1) * np.pi / (2 * rstep * (kmax - kmin)))
    spl_k = k[[int(np.argmin(np.abs(k - q))) for q in np.linspace(kmin, kmax, nspl)]]
    order = 3
    knots = np.concatenate([[spl_k[0]] * (order + 1), spl_k[2:-2], [spl_k[-1]] * (order + 1)])
    basis = BSpline.design_matrix(k, knots, order, extrapolate=True).toarray()
    ftwin = k ** kweight * ftwindow(k, xmin=kmin, xmax=kmax, window="hanning", dx=AUTOBK_DK, dx2=AUTOBK_DK)
    ft = np.exp(-2j * np.pi * np.outer(np.arange(irbkg), np.arange(k.size)) / NFFT) * (KSTEP / np.sqrt(np.pi))
    ft = ft * ftwin[None, :]
    clamp = np.zeros((NCLAMP, k.size))
    clamp[np.arange(NCLAMP), np.arange(k.size - NCLAMP, k.size)] = CLAMP_HI
    w = np.vstack([ft.real, ft.imag, clamp])
    return basis @ np.linalg.pinv(w @ basis) @ w


def chi_batch(mu_k: np.ndarray, q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(chi, mu0) on the grid ``k`` for each row of ``mu_k`` (edge signal on k): mu0 = Q mu, chi =
    (mu - mu0) / mu0 (EELS: the edge cross-section falls with energy), mu0 floored at 5 % of its median
    above k = 2 1/A."""
    mu0 = mu_k @ q.T
    ref = mu0[:, k > 2] if np.any(k > 2) else mu0
    floor = np.maximum(0.05 * np.median(ref, axis=1, keepdims=True), 1e-300)
    return (mu_k - mu0) / np.maximum(mu0, floor), mu0


def edge_snr(energy: np.ndarray, counts: np.ndarray, background: np.ndarray, window: tuple, e0: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """(edge step, edge-step SNR) per row: the median edge signal over [e0 + 10, e0 + 60] eV over the rms
    scatter of the counts about the power law in the pre-edge window (per channel)."""
    pre = (energy >= window[0]) & (energy <= window[1])
    post = (energy >= e0 + 10) & (energy <= e0 + 60)
    step = np.median(counts[:, post] - background[:, post], axis=1)
    noise = np.std(counts[:, pre] - background[:, pre], axis=1)
    return step, step / np.maximum(noise, 1e-300)
