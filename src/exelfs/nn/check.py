"""The posterior-predictive check of a network's answer: can a spectrum of the training distribution explain
the data, within their noise and the theory's accuracy?

From the network's answer, a few Levenberg-Marquardt steps on the forward model (the Fourier-filtered
k^2 chi the network reads; R, N and sigma2 of every modelled shell and E0 free, S0^2 held at the network's
value since it is degenerate with N, every parameter kept inside the training prior) find the nearest
spectrum the model can make. The network's answer is imprecise (its own error bars), so its residual alone
mixes that imprecision with a real mismatch; the refined residual does not. The check compares the refined
residual with what the data allow: the noise after the same Fourier filter, plus THEORY_FLOOR of the
signal (FEFF's accuracy: a good shell fit to real data leaves a Larch R-factor of about 0.02).
Units: k 1/A, R A, sigma2 A^2, E0 eV.
"""

from __future__ import annotations

import numpy as np

from ..theory.shells import group_shells
from .data import K_INPUT, KSTEP, NFFT, _kwindow, _rmask, clean_chi, features

THEORY_FLOOR = 0.02  # fraction of the windowed signal's sum of squares the theory may miss by
ITERATIONS = 15      # Levenberg-Marquardt steps from the network's answer
STEP = 3e-3          # finite-difference step, as a fraction of each parameter's prior range


def filtered_noise_var(noise, kmin, kmax, rwin) -> np.ndarray:
    """(B, len(K_INPUT)) variance of white noise of rms ``noise`` (k^2 chi per point) after the k window
    and the R-window filter that the network input goes through."""
    noise = np.asarray(noise, float)
    b = noise.shape[0]
    w = _kwindow(np.broadcast_to(kmin, (b,)), np.broadcast_to(kmax, (b,)))[:, np.rint(K_INPUT / KSTEP).astype(int)]
    mask = _rmask(rwin)
    gain = (2.0 * np.sum(mask.astype(float) ** 2) - mask[0] ** 2) / NFFT  # sum of the filter's kernel squared
    return noise[:, None] ** 2 * gain * w.astype(float) ** 2


def prior_bounds(model) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) per output of ``model`` (its ``names``): the training prior's range of each parameter."""
    r = model.cfg.ranges
    lo, hi = [], []
    for name in model.names:
        if name.startswith("sigma2_"):
            lo.append(r.sigma2[0]), hi.append(r.sigma2[1])
        elif name[0] in "rn" and name[1:].isdigit():
            s = model.shells[int(name[1:]) - 1]
            if name[0] == "r":
                lo.append(s["reff"] * (1 + r.lattice[0]) + r.r_shell[0])
                hi.append(s["reff"] * (1 + r.lattice[1]) + r.r_shell[1])
            else:
                lo.append(s["n"] * r.n_scale[0]), hi.append(s["n"] * r.n_scale[1])
        elif name == "e0_shift":
            lo.append(r.e0[0]), hi.append(r.e0[1])
        else:  # s02
            lo.append(r.s02[0]), hi.append(r.s02[1])
    return np.array(lo, float), np.array(hi, float)


def _forward(model, paths, shells_all, theta, kmin, kmax) -> np.ndarray:
    chi = clean_chi(paths, shells_all, model._params(theta, paths), model.l2_shift_ev)
    return features(chi, kmin, kmax, model.rwin, "windowed")[1].astype(float)


def refine(model, paths, theta0, xw, kmin, kmax, iterations: int = ITERATIONS) -> tuple[np.ndarray, np.ndarray]:
    """(parameters (B, T), windowed k^2 chi of the model at them (B, len(K_INPUT))): Levenberg-Marquardt
    from ``theta0`` (the network's answer, physical units, ``model.names`` order) towards the data ``xw``
    inside [kmin, kmax], within the prior (S0^2 held)."""
    shells_all = group_shells(paths)
    b = len(theta0)
    kmin, kmax = np.broadcast_to(kmin, (b,)).astype(float), np.broadcast_to(kmax, (b,)).astype(float)
    inside = (K_INPUT[None, :] >= kmin[:, None]) & (K_INPUT[None, :] <= kmax[:, None])
    lo, hi = prior_bounds(model)
    free = [i for i, n in enumerate(model.names) if n != "s02"]
    span = (hi - lo)[free]
    theta = np.clip(np.asarray(theta0, float), lo, hi)
    fit = _forward(model, paths, shells_all, theta, kmin, kmax)
    res = np.where(inside, fit - xw, 0.0)
    cost = np.sum(res ** 2, axis=1)
    lam = np.full(b, 1e-2)
    p = len(free)
    for _ in range(iterations):
        step = STEP * span
        # each step points towards the inside of the prior, so the shifted point stays in it
        h = np.where(theta[:, free] + step <= hi[free], step, -step)  # (B, P)
        shifted = np.repeat(theta[None], p, axis=0)  # (P, B, T)
        for j, col in enumerate(free):
            shifted[j, :, col] += h[:, j]
        fj = _forward(model, paths, shells_all, shifted.reshape(p * b, -1), np.tile(kmin, p), np.tile(kmax, p))
        jac = np.transpose(np.where(inside[None], fj.reshape(p, b, -1) - fit[None], 0.0), (1, 2, 0)) / h[:, None, :]
        a = np.einsum("bkp,bkq->bpq", jac, jac)
        g = np.einsum("bkp,bk->bp", jac, res)
        damp = lam[:, None] * (np.einsum("bpp->bp", a) + 1e-12)
        delta = np.linalg.solve(a + damp[:, :, None] * np.eye(p)[None], -g[:, :, None])[:, :, 0]
        trial = theta.copy()
        trial[:, free] = np.clip(theta[:, free] + delta, lo[free], hi[free])
        fit_t = _forward(model, paths, shells_all, trial, kmin, kmax)
        res_t = np.where(inside, fit_t - xw, 0.0)
        cost_t = np.sum(res_t ** 2, axis=1)
        better = cost_t < cost
        theta[better], fit[better] = trial[better], fit_t[better]
        res[better], cost[better] = res_t[better], cost_t[better]
        lam = np.where(better, lam * 0.3, lam * 10.0)
    return theta, fit


def ppc_statistics(model, paths, theta0, xw, fit0, noise, kmin, kmax, refine_above=None) -> dict:
    """Per spectrum, for the windowed data ``xw`` and the model ``fit0`` at the network's answer ``theta0``:
    'ppc' (residual sum of squares over the filtered noise's plus THEORY_FLOOR of the signal's: the
    statistic the unseen-spectrum flag tests), 'refined_misfit' (R-factor) and 'residual_noise' (residual over
    the filtered noise: 1 when the model explains the data to their noise), all at the better of the
    network's answer and its refinement. Only spectra whose 'ppc' at the network's answer exceeds
    ``refine_above`` are refined (None: the 90th percentile of the batch): refining can only lower it."""
    xw = np.asarray(xw, float)
    b = len(xw)
    kmin, kmax = np.broadcast_to(kmin, (b,)), np.broadcast_to(kmax, (b,))
    inside = (K_INPUT[None, :] >= kmin[:, None]) & (K_INPUT[None, :] <= kmax[:, None])
    ssq = np.maximum(np.sum(np.where(inside, xw, 0.0) ** 2, axis=1), 1e-12)
    vn = np.maximum(np.sum(np.where(inside, filtered_noise_var(noise, kmin, kmax, model.rwin), 0.0), axis=1), 1e-12)
    r2 = np.sum(np.where(inside, xw - np.asarray(fit0, float), 0.0) ** 2, axis=1)
    ppc = r2 / (vn + THEORY_FLOOR * ssq)
    cut = np.quantile(ppc, 0.9) if refine_above is None else refine_above
    sel = np.flatnonzero(ppc > cut)
    if sel.size:
        _, fit = refine(model, paths, np.asarray(theta0)[sel], xw[sel], kmin[sel], kmax[sel])
        r2[sel] = np.minimum(r2[sel], np.sum(np.where(inside[sel], xw[sel] - fit, 0.0) ** 2, axis=1))
    return {"ppc": r2 / (vn + THEORY_FLOOR * ssq), "refined_misfit": r2 / ssq, "residual_noise": r2 / vn}
