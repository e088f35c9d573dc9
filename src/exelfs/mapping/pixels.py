"""What happens to one chunk of pixels: the batched extraction (power law, deconvolution, k grid, spline
background, chi) and then the method: the network's batched call (``nn``) or the classical shell fit per
pixel (``fit``). Returns one row of stored parameters per pixel (``setup.names``), NaN where masked.

Mask codes (the ``mask`` map): 0 answered, 1 signal too weak (edge-step SNR below ``min_snr``, or no
usable chi), 2 outside what the network was trained on (``ood``), 3 rejected by the honesty rule, 4 the
fit failed.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from ..extract import batch

ANSWERED, WEAK, OOD, REJECTED, FAILED = 0, 1, 2, 3, 4
MASK_NAMES = {WEAK: "weak_signal", OOD: "ood", REJECTED: "rejected", FAILED: "failed"}


def _lowloss_rows(setup, ll_counts) -> np.ndarray | None:
    """The low-loss rows for the deconvolution: the one prepared spectrum, or each pixel's own row laid out
    like the prepared sum and its zero-loss peak moved to 0 eV."""
    ll = setup.lowloss
    if ll_counts is None:
        return ll.spectrum
    rows = np.zeros((ll_counts.shape[0], ll.energy.size))
    rows[:, ll.row_pad:ll.row_pad + ll.row_count] = ll_counts[:, :ll.row_count]
    return batch.align_peaks(ll.energy, rows)


def extract_rows(setup, counts: np.ndarray, ll_counts: np.ndarray | None = None) -> dict:
    """chi(k) on ``setup.k`` and the edge-step SNR for each row of ``counts`` (n, channels) under the
    image's one set of choices: {"chi": (n, nk), "mu0": (n, nk), "snr": (n,), "usable": (n,) bool}."""
    energy = setup.energy
    # float32 data stay float32 up to the k grid (half the memory traffic; 1e-7 relative, far below the noise)
    counts = np.asarray(counts, np.float32 if np.asarray(counts).dtype == np.float32 else np.float64)
    log_a, r = batch.power_law_fit(energy, counts, setup.window)
    background = batch.power_law(energy, log_a, r, dtype=counts.dtype)
    mu = counts - background
    _, snr = batch.edge_snr(energy, counts, background, setup.window, setup.e0)
    if setup.lowloss is not None:
        edge_only = np.where(energy[None, :] >= setup.window[1], mu, 0.0)
        mu = batch.fourier_ratio(edge_only, setup.lowloss.energy, _lowloss_rows(setup, ll_counts),
                                 setup.lowloss.fwhm, setup.lowloss.threshold, setup.lowloss.extrapolate)
    mu_k = np.asarray(mu @ setup.k_op_t)
    chi, mu0 = batch.chi_batch(mu_k, setup.spline, setup.k)
    inside = (setup.k >= setup.k_range[0]) & (setup.k <= setup.k_range[1])
    usable = np.isfinite(chi[:, inside]).all(axis=1) & (mu0[:, inside] > 0).all(axis=1) & np.isfinite(snr)
    return {"chi": chi, "mu0": mu0, "snr": snr, "usable": usable}


def _nn_errors(values: dict, n_shells: int) -> None:
    """The single-spectrum nn method's error terms on the network's calibrated errors: FEFF phase (R) and
    amplitude (sigma2) accuracy, and for EELS the ~1 % energy-scale uncertainty that R scales with."""
    from ..theory.feff import FEFF_AMP_SIGMA2, FEFF_PHASE_R
    from ..pipeline.run import EELS_DISPERSION_REL

    for i in range(1, n_shells + 1):
        r = values[f"r{i}"]
        values[f"r{i}_err"] = np.sqrt(values[f"r{i}_err"] ** 2 + FEFF_PHASE_R ** 2 + (EELS_DISPERSION_REL * r) ** 2)
        values[f"sigma2_{i}_err"] = np.hypot(values[f"sigma2_{i}_err"], FEFF_AMP_SIGMA2)


def _nn_rows(setup, chi) -> tuple[dict, np.ndarray]:
    """The network's batched call (the nn contract); (values by name, mask codes)."""
    from ..pipeline import get_method
    from ..pipeline.honesty import R_ERR_ANSWER
    from ..pipeline.neighbours import r_prior_echoed

    out = get_method("nn").batch(setup.plan, setup.k, chi, setup.k_range, setup.kweight,
                                 l2_shift_ev=setup.l2_shift_ev)
    n = chi.shape[0]
    values = {name: np.asarray(out.get(name, np.full(n, np.nan)), float) for name in setup.names[:-2]}
    _nn_errors(values, setup.n_shells)
    code = np.where(np.asarray(out.get("ood", np.zeros(n, bool)), bool), OOD, ANSWERED)
    # the honesty rule's per-shell tests, vectorised: R known no better than R_ERR_ANSWER or no better than
    # the prior (pipeline.neighbours), or sigma2 negative beyond its error, leaves the first shell (and so
    # the pixel) undetermined
    echo = r_prior_echoed(values["r1_err"], setup.plan.__dict__["_nn_model"].cfg.ranges, out["shells"][0]["r_ref"])
    bad = ((values["r1_err"] > R_ERR_ANSWER) | echo | (values["sigma2_1"] + values["sigma2_1_err"] < 0)
           | ~np.isfinite(values["r1"]))
    return values, np.where((code == ANSWERED) & bad, REJECTED, code)


def _fit_one(setup, chi_row) -> tuple[dict, int]:
    """The classical shell fit of one pixel (``fit_shells`` with the plan's paths, started from the sum's
    delta E0; no per-pixel stability variants: the sum's spread over analysis choices is added to the
    errors instead), then the honesty rule."""
    from ..fit import fit_shells
    from ..pipeline.honesty import judge
    from ..pipeline.run import EELS_DISPERSION_REL

    s = setup.plan.settings
    try:
        out = fit_shells(setup.k, chi_row, setup.plan.paths, setup.k_range, r_range=setup.r_range,
                         kweight=setup.kweight, e0_starts=(setup.e0_start,), l2_shift_ev=setup.l2_shift_ev,
                         max_shells=s.shells, s02=s.s02, stability=False)
    except InputError:
        return {}, FAILED
    shells = [dict(sh) for sh in out["shells"]]
    for i, sh in enumerate(shells):
        spread = setup.choice_spread[i] if i < len(setup.choice_spread) else {}
        sh["r_err"] = math.sqrt(sh["r_err"] ** 2 + (EELS_DISPERSION_REL * sh["r"]) ** 2 + spread.get("r", 0.0) ** 2)
        sh["sigma2_err"] = math.hypot(sh["sigma2_err"], spread.get("sigma2", 0.0))
    answered, _, _ = judge(shells, out)
    values = {"e0_shift": out["e0_shift"], "e0_shift_err": out["e0_shift_err"]}
    kept = {id(sh) for sh in answered}
    for i, sh in enumerate(shells[:setup.n_shells], start=1):
        if i > 1 and id(sh) not in kept:
            continue  # an undetermined further shell: no value
        values.update({f"r{i}": sh["r"], f"r{i}_err": sh["r_err"], f"n{i}": sh["n"], f"n{i}_err": sh["n_err"],
                       f"sigma2_{i}": sh["sigma2"], f"sigma2_{i}_err": sh["sigma2_err"]})
    return values, (ANSWERED if answered else REJECTED)


def _fit_rows(setup, chi, todo) -> tuple[dict, np.ndarray]:
    n = chi.shape[0]
    values = {name: np.full(n, np.nan) for name in setup.names[:-2]}
    code = np.full(n, WEAK)
    for i in np.nonzero(todo)[0]:
        row, code[i] = _fit_one(setup, chi[i])
        for name, v in row.items():
            values[name][i] = np.nan if v is None else float(v)
    return values, code


def analyse_block(counts_block: np.ndarray, ll_block: np.ndarray | None = None, setup=None) -> np.ndarray:
    """One dask block: counts (navigation chunk + (channels,)) -> navigation chunk + (len(setup.names),)
    float32 parameters, masked pixels NaN except their SNR and mask code."""
    nav = counts_block.shape[:-1]
    counts = counts_block.reshape(-1, counts_block.shape[-1])
    ll_counts = None if ll_block is None else ll_block.reshape(-1, ll_block.shape[-1])
    ext = extract_rows(setup, counts, ll_counts)
    strong = ext["usable"] & (ext["snr"] >= setup.min_snr)
    chi = np.where(ext["usable"][:, None], ext["chi"], 0.0)
    if setup.method == "nn":
        values, code = _nn_rows(setup, chi)
        code = np.where(strong, code, WEAK)
    else:
        values, code = _fit_rows(setup, chi, strong)
    out = np.full((counts.shape[0], len(setup.names)), np.nan, dtype=np.float32)
    for j, name in enumerate(setup.names[:-2]):
        out[:, j] = np.where(code == ANSWERED, values[name], np.nan)
    out[:, -2] = ext["snr"]
    out[:, -1] = code
    return out.reshape(nav + (len(setup.names),))
