"""Neighbour-shell fits of chi(k) with FEFF paths through Larch's feffit.

The fit itself is Larch's ``feffit`` (R-space, Hanning windows); this module chooses the model
automatically from the paths and the information content of the data, runs several starts over delta E0,
and turns the result into honest shells (r, n, sigma2 with uncertainties) plus warnings.

Units: k in 1/angstrom, r in angstrom, sigma2 in angstrom^2, energies in eV.
"""

from __future__ import annotations

import math
import warnings as _warnings

import numpy as np

from ..errors import InputError

S02_ASSUMED = 0.9          # S0^2 assumed when converting the fitted amplitude into N
S02_REL_ERR = 0.15         # relative uncertainty of that assumption (S0^2 = 0.75-1.05)
SHELL_GAP = 0.45           # shells closer than this (A) to the previous one cannot be separated: fit together
R_SYSTEMATIC = 0.010       # FEFF6 phase-shift accuracy (A): floor added in quadrature to the fit error
KSTEP = 0.05

# parameter bounds
BOUNDS = {"amp": (0.05, 4.0), "del_e0": (-20.0, 20.0), "sig2": (-0.01, 0.06), "del_r": (-0.35, 0.35),
          "alpha": (-0.12, 0.12)}


def n_independent(k_range, r_range) -> float:
    """Nyquist estimate of independent points, N_idp = 2 dk dR / pi (k in 1/A, R in A)."""
    return 2.0 * (k_range[1] - k_range[0]) * (r_range[1] - r_range[0]) / math.pi


def group_shells(paths, rmax=None, tol=0.05) -> list[dict]:
    """Single-scattering paths grouped into shells: same scatterer, reff within tol (A).

    Returns [{"scatterer", "reff", "n" (crystal degeneracy), "paths": [PathTable]}] in rising reff."""
    shells: list[dict] = []
    for p in sorted((p for p in paths if p.nleg == 2), key=lambda p: p.reff):
        if rmax is not None and p.reff > rmax:
            continue
        for sh in shells:
            if sh["scatterer"] == p.scatterers[0] and abs(sh["reff"] - p.reff) < tol:
                sh["paths"].append(p)
                sh["n"] += p.degen
                break
        else:
            shells.append({"scatterer": p.scatterers[0], "reff": float(p.reff), "n": float(p.degen), "paths": [p]})
    return shells


def _larch_path(p, **kws):
    """A Larch FeffPathGroup for a PathTable (read from its feffNNNN.dat)."""
    from larch.xafs import feffpath

    return feffpath(p.filename, **kws)


def _uniform(k, chi):
    """chi(k) on Larch's uniform grid k = 0, 0.05, ... (zero outside the data)."""
    k = np.asarray(k, float)
    chi = np.asarray(chi, float)
    good = np.isfinite(k) & np.isfinite(chi)
    k, chi = k[good], chi[good]
    order = np.argsort(k)
    k, chi = k[order], chi[order]
    grid = np.arange(0, k.max() + KSTEP / 2, KSTEP)
    return grid, np.interp(grid, k, chi, left=0.0, right=0.0)


def _build(shells, mode, l2_shift_ev=None, l2_weight=0.5):
    """Larch parameter group and path dict for a model.

    mode 'free': per shell amplitude, delta R, sigma2; one delta E0.
    mode 'crystal': one amplitude (N fixed to the crystal), one expansion factor alpha (delta R = alpha*reff),
    one sigma2 per shell, one delta E0: 3 + n_shells parameters.
    mode 'fixed_n': N of the crystal with S0^2 = 0.9, one expansion factor, one sigma2, one delta E0: 3 parameters."""
    from larch.fitting import param, param_group

    def par(name, value):
        lo, hi = BOUNDS[name.split("_")[0] if name.startswith(("amp", "sig2", "alpha")) else
                        ("del_r" if name.startswith("del_r") else name)]
        return param(value, vary=True, min=lo, max=hi)

    pars = {"del_e0": par("del_e0", 0.0)}
    larch_paths = {}
    if mode == "crystal":
        pars.update(amp=par("amp", S02_ASSUMED), alpha=par("alpha", 0.0))
    elif mode == "fixed_n":
        pars.update(amp=param(S02_ASSUMED, vary=False), alpha=par("alpha", 0.0), sig2=par("sig2", 0.005))
    for i, sh in enumerate(shells, start=1):
        if mode == "free":
            pars[f"amp{i}"] = par("amp", S02_ASSUMED)
            pars[f"del_r{i}"] = par("del_r", 0.0)
            pars[f"sig2{i}"] = par("sig2", 0.005)
            amp, dr, s2 = f"amp{i}", f"del_r{i}", f"sig2{i}"
        elif mode == "crystal":
            pars[f"sig2{i}"] = par("sig2", 0.005)
            amp, dr, s2 = "amp", f"alpha*{sh['reff']:.5f}", f"sig2{i}"
        else:
            amp, dr, s2 = "amp", f"alpha*{sh['reff']:.5f}", "sig2"
        for j, p in enumerate(sh["paths"]):
            larch_paths[f"s{i}p{j}"] = _larch_path(p, s02=amp, e0="del_e0", deltar=dr, sigma2=s2)
            if l2_shift_ev:
                # L2 fine structure: the same scattering, started from an edge l2_shift_ev higher (so with
                # a photoelectron energy smaller by that much) and weighted by the L2/L3 branching (~1/2).
                larch_paths[f"s{i}p{j}L2"] = _larch_path(
                    p, s02=f"{amp}*{l2_weight:.4f}", e0=f"del_e0 + {l2_shift_ev:.4f}", deltar=dr, sigma2=s2)
    return param_group(**pars), larch_paths


def _run_feffit(kgrid, chigrid, pargroup, larch_paths, k_range, r_range, kweight, dk, window, e0_start):
    from larch import Group
    from larch.xafs import feffit, feffit_dataset, feffit_transform

    pargroup.del_e0.value = e0_start
    data = Group(k=kgrid, chi=chigrid)
    tr = feffit_transform(kmin=k_range[0], kmax=k_range[1], kweight=kweight, dk=dk, window=window,
                          rmin=r_range[0], rmax=r_range[1], fitspace="r")
    ds = feffit_dataset(data=data, paths=larch_paths, transform=tr)
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        return feffit(pargroup, ds)


def _value(out, name):
    p = out.params[name]
    err = p.stderr if (p.stderr is not None and np.isfinite(p.stderr)) else np.nan
    return float(p.value), float(err)


def _shell_r(out, sh, i, mode):
    if mode == "free":
        dr, dr_err = _value(out, f"del_r{i}")
    else:
        a, a_err = _value(out, "alpha")
        dr, dr_err = a * sh["reff"], a_err * sh["reff"]
    return sh["reff"] + dr, dr_err


def choose_model(paths, k_range, r_range=None, max_shells=None):
    """Automatic model: the shells in the fit, the R window (A), the mode, N_idp.

    The first shell is always fitted, together with any shell closer than SHELL_GAP to it (they cannot be
    separated). A shell is added only if the data carry enough independent points for it."""
    shells = group_shells(paths)
    if not shells:
        raise InputError("no single-scattering path in the FEFF calculation: increase rmax")
    model = [shells[0]]
    for sh in shells[1:]:
        if sh["reff"] - model[-1]["reff"] < SHELL_GAP:
            model.append(sh)
        else:
            break
    if max_shells is not None:
        model = model[:max(1, int(max_shells))]
    if r_range is None:
        rmin = max(0.9, model[0]["reff"] - 0.9)
        rmax = model[-1]["reff"] + 0.25
        r_range = (round(rmin, 3), round(rmax, 3))
    nidp = n_independent(k_range, r_range)
    n_free = 1 + 3 * len(model)
    # keep at least ~2 independent points spare: otherwise constrain (N from the crystal, shared parameters)
    if nidp >= n_free + 2:
        mode = "free"
    elif len(model) > 1 and nidp >= 3 + len(model) + 2:
        mode = "crystal"
    else:
        mode = "fixed_n"
    return model, tuple(r_range), mode, nidp


def fit_shells(k, chi, paths, k_range, r_range=None, kweight=2, dk=1.0, window="hanning",
               e0_starts=(-6.0, 0.0, 6.0), l2_shift_ev=None, l2_weight=0.5, max_shells=None,
               mode=None, stability=True) -> dict:
    """Fit neighbour shells to chi(k) with FEFF paths (Larch feffit in R space).

    k (1/A), chi: the data; paths: PathTables (``exelfs.theory.feff_paths``); k_range (1/A): fit window in k;
    r_range (A): fit window in R (automatic when None); kweight: k weighting; e0_starts: starting delta E0
    values (eV), the best fit wins and distinct minima are reported; l2_shift_ev: for L2,3 edges, the L2-L3
    spacing (eV): the L2 fine structure is modelled as a copy of the L3 one shifted by it and weighted by
    l2_weight; mode: 'free' (per shell r, amplitude, sigma2) or 'crystal' (N fixed to the structure, one
    expansion factor, one sigma2), automatic when None.

    Returns {"shells": [{"scatterer","r","r_err","n","n_err","sigma2","sigma2_err", ...}], "e0_shift",
    "e0_shift_err", "warnings", "n_independent", "n_parameters", "k_range", "r_range", "kweight", "mode",
    "chi2_reduced", "r_factor", "n_from", "curves" (numpy arrays for plots)}.
    """
    k_range = (float(k_range[0]), float(k_range[1]))
    if not (0 <= k_range[0] < k_range[1]):
        raise InputError(f"k range {k_range} is empty: kmin must be below kmax")
    kgrid, chigrid = _uniform(k, chi)
    if kgrid.max() < k_range[1] - 0.5:
        k_range = (k_range[0], float(kgrid.max()))
    if k_range[1] - k_range[0] < 2.0:
        raise InputError(f"the usable k range {k_range[0]:.1f}-{k_range[1]:.1f} 1/A is too short for a shell fit")
    model, r_range, auto_mode, nidp = choose_model(paths, k_range, r_range, max_shells)
    mode = mode or auto_mode
    warnings: list[str] = []
    n_par = {"free": 1 + 3 * len(model), "crystal": 3 + len(model), "fixed_n": 3}[mode]

    # several starts over delta E0: keep every converged result
    results = []
    for e0s in e0_starts:
        pg, lp = _build(model, mode, l2_shift_ev, l2_weight)
        try:
            out = _run_feffit(kgrid, chigrid, pg, lp, k_range, r_range, kweight, dk, window, e0s)
        except Exception as exc:  # a failed start is not fatal while another converges
            warnings.append(f"fit from delta E0 = {e0s:+.0f} eV failed: {exc}")
            continue
        results.append(out)
    if not results:
        raise InputError("the shell fit failed from every start: the chi(k) data may be empty or flat")
    results.sort(key=lambda o: o.chi_square)
    best = results[0]

    shells_out = []
    for i, sh in enumerate(model, start=1):
        r, r_err = _shell_r(best, sh, i, mode)
        if mode == "free":
            amp, amp_err = _value(best, f"amp{i}")
        else:
            amp, amp_err = _value(best, "amp")
        s2, s2_err = _value(best, "sig2" if mode == "fixed_n" else f"sig2{i}")
        if mode == "fixed_n":
            amp_err = np.nan
        shells_out.append(dict(scatterer=sh["scatterer"], r=r, r_err=r_err, amp=amp, amp_err=amp_err,
                               sigma2=s2, sigma2_err=s2_err, n_crystal=sh["n"], reff=sh["reff"]))

    # other minima fitting as well as the best (within 10% of its chi-square) but elsewhere in R
    for other in results[1:]:
        if other.chi_square > 1.10 * best.chi_square:
            continue
        r_o, _ = _shell_r(other, model[0], 1, mode)
        s0 = shells_out[0]
        if abs(r_o - s0["r"]) > max(2 * (s0["r_err"] if np.isfinite(s0["r_err"]) else 0), 0.01):
            warnings.append(f"two minima fit about equally well: first-shell R = {s0['r']:.3f} and {r_o:.3f} A "
                            f"(delta E0 {_value(best, 'del_e0')[0]:+.1f} vs {_value(other, 'del_e0')[0]:+.1f} eV);"
                            " the uncertainty covers both")
            s0["r_err_minima"] = max(s0.get("r_err_minima", 0.0), abs(r_o - s0["r"]))

    # stability of R against the k weighting (a cheap measure of systematic error)
    if stability:
        for kw in sorted({1, 3} - {kweight}):
            pg, lp = _build(model, mode, l2_shift_ev, l2_weight)
            try:
                o = _run_feffit(kgrid, chigrid, pg, lp, k_range, r_range, kw, dk, window,
                                _value(best, "del_e0")[0])
            except Exception:
                continue
            for i, (sh, so) in enumerate(zip(model, shells_out), start=1):
                r_kw, _ = _shell_r(o, sh, i, mode)
                so["r_err_kweight"] = max(so.get("r_err_kweight", 0.0), abs(r_kw - so["r"]))

    e0, e0_err = _value(best, "del_e0")
    names = [n for n in best.params if getattr(best.params[n], "vary", False)]
    for name in names:
        p = best.params[name]
        lo, hi = p.min, p.max
        if np.isfinite(lo) and np.isfinite(hi) and min(abs(p.value - lo), abs(p.value - hi)) < 0.01 * (hi - lo):
            warnings.append(f"parameter {name} = {p.value:.4g} sits on its bound [{lo:g}, {hi:g}]: "
                            "its value and the others' uncertainties are not trustworthy")
    if nidp < n_par:
        warnings.append(f"only {nidp:.1f} independent points for {n_par} parameters: the fit is underdetermined")

    out_shells = []
    for so in shells_out:
        stat = so["r_err"] if np.isfinite(so["r_err"]) else 0.1
        r_err = math.sqrt(stat ** 2 + R_SYSTEMATIC ** 2 + so.get("r_err_kweight", 0.0) ** 2
                          + so.get("r_err_minima", 0.0) ** 2)
        if not np.isfinite(so["r_err"]):
            warnings.append(f"no uncertainty from the fit for the {so['scatterer']} shell (singular covariance)")
        on_bound = any(w.startswith("parameter ") and ("sits on its bound" in w) for w in warnings)
        if on_bound or nidp < n_par:
            r_err = max(r_err, 0.05)
        n = so["amp"] * so["n_crystal"] / S02_ASSUMED
        if mode == "fixed_n":
            n_err = None  # not measured: N is the crystal's
        else:
            amp_err = so["amp_err"] if np.isfinite(so["amp_err"]) else so["amp"]
            n_err = round(n * math.sqrt((amp_err / max(so["amp"], 1e-6)) ** 2 + S02_REL_ERR ** 2), 2)
        s2_err = so["sigma2_err"] if np.isfinite(so["sigma2_err"]) else abs(so["sigma2"])
        if so["sigma2"] < 0:
            warnings.append(f"negative sigma2 ({so['sigma2']:.4f} A^2) for the {so['scatterer']} shell: "
                            "unphysical, amplitude and sigma2 are not determined by these data")
            s2_err = max(s2_err, abs(so["sigma2"]))
            r_err = max(r_err, 0.03)
        out_shells.append({"scatterer": so["scatterer"], "r": round(so["r"], 4), "r_err": round(r_err, 4),
                           "n": round(n, 2), "n_err": n_err,
                           "sigma2": round(so["sigma2"], 5), "sigma2_err": round(s2_err, 5),
                           "r_crystal": round(so["reff"], 4), "n_crystal": so["n_crystal"]})
    out_shells.sort(key=lambda s: s["r"])

    ds = best.datasets[0]
    r_factor = float(getattr(best, "rfactor", np.nan))
    curves = {"k": ds.data.k, "chi": ds.data.chi, "chi_model": ds.model.chi, "kwin": ds.model.kwin,
              "r": ds.data.r, "chir_mag": ds.data.chir_mag, "chir_mag_model": ds.model.chir_mag}
    if mode == "fixed_n":
        n_from = ("N fixed to the crystal structure and S0^2 to 0.9 (too few independent points to fit "
                  "the amplitude): n is the crystal's, not a measurement")
        warnings.append("coordination numbers not fitted (too few independent points): n is the crystal's")
    elif mode == "crystal":
        n_from = "N fixed to the crystal structure; fitted amplitude = S0^2 (reported n = amplitude*N/0.9)"
    else:
        n_from = f"n = fitted amplitude (S0^2*N) / {S02_ASSUMED} (S0^2 assumed), error includes +-{S02_REL_ERR:.0%} on S0^2"
    return {
        "shells": out_shells, "e0_shift": round(e0, 3), "e0_shift_err": round(e0_err, 3) if np.isfinite(e0_err) else None,
        "warnings": warnings, "n_independent": round(nidp, 2), "n_parameters": n_par,
        "k_range": [round(k_range[0], 3), round(k_range[1], 3)], "r_range": [round(r_range[0], 3), round(r_range[1], 3)],
        "kweight": kweight, "mode": mode, "chi2_reduced": float(best.chi2_reduced), "r_factor": r_factor,
        "n_from": n_from, "l2_shift_ev": l2_shift_ev, "curves": curves,
    }
