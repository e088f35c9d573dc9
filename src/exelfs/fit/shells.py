"""Neighbour-shell fits of chi(k) with FEFF paths through Larch's feffit.

The fit itself is Larch's ``feffit`` (R-space, Hanning windows); this module chooses the model
automatically from the paths and the information content of the data, runs several starts over delta E0,
and turns the result into honest shells (r, n, sigma2 with uncertainties) plus warnings.

Units: k in 1/angstrom, r in angstrom, sigma2 in angstrom^2, energies in eV.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from ..quiet import quiet

S02_ASSUMED = 0.9          # S0^2 assumed when converting the fitted amplitude into N
S02_REL_ERR = 0.15         # relative uncertainty of that assumption (S0^2 = 0.75-1.05)
SHELL_GAP = 0.45           # shells closer than this (A) to the previous one cannot be separated: fit together
R_MIN_WINDOW = 0.8         # A: the R window never starts below this (the smooth background lives there)
R_PAD = 0.25               # A: the R window ends this far above the reff of its last shell
OUTER_MARGIN = 1.35        # A: paths up to this far beyond the window leak into it: modelled, tied
MAX_OUTER_PATHS = 16       # the strongest (degeneracy / reff^2) of those, for speed
OUTER_S2_FACTOR = 1.3      # sigma2 of the leaking outer paths relative to the last shell in the window
R_SYSTEMATIC = 0.010       # FEFF6 phase-shift accuracy (A): floor added in quadrature to the fit error
S2_SYSTEMATIC = 0.0005     # A^2: FEFF6 amplitude / mean-free-path accuracy, the same for sigma2
KSTEP = 0.05

# parameter bounds
BOUNDS = {"amp": (0.05, 4.0), "del_e0": (-12.0, 12.0), "sig2": (-0.01, 0.06), "del_r": (-0.35, 0.35),
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


def _path_key(p):
    return (str(p.filename), round(float(p.reff), 4), int(p.nleg))


def _build(model, mode, l2_shift_ev=None, l2_weight=0.5):
    """Larch parameter group and path dict for a model (``choose_model``'s dict).

    Shells in the R window: the first shell, the others (``model['shells'][1:]``); paths outside the window
    that leak into it (``model['outer']``: further single- and multiple-scattering paths) are modelled with
    parameters tied to the shells, so that their tails do not bias the first shell.

    mode 'free': first shell amplitude, delta R, sigma2; each further shell its own delta R and sigma2 and
      one shared amplitude; one delta E0. 1 + 3 + 2 (n-1) + (n > 1) parameters.
    mode 'crystal': one amplitude (N of the crystal), one expansion factor alpha (delta R = alpha*reff), one
      sigma2 per shell, one delta E0: 3 + n parameters.
    mode 'fixed_n': N of the crystal with S0^2 = 0.9, one expansion factor, sigma2 of the first shell and one
      for the others, one delta E0: 3 + (n > 1) parameters.
    Paths in ``outer`` take the amplitude of the further shells (of the first when alone), the expansion of
    the first shell (delta R = reff * dR1/reff1) and sigma2 = OUTER_S2_FACTOR times that of the last shell
    in the window (outer shells are more disordered)."""
    from larch.fitting import param, param_group

    def par(kind, value):
        lo, hi = BOUNDS[kind]
        return param(value, vary=True, min=lo, max=hi)

    shells, outer = model["shells"], model.get("outer", [])
    n = len(shells)
    reff1 = shells[0]["reff"]
    pars = {"del_e0": par("del_e0", 0.0)}
    spec = []  # (path, amp expr, deltar expr, sigma2 expr)
    if mode == "free":
        pars.update(amp1=par("amp", S02_ASSUMED), del_r1=par("del_r", 0.0), sig2_1=par("sig2", 0.005))
        if n > 1:
            pars["amp_o"] = par("amp", S02_ASSUMED)
        for i, sh in enumerate(shells, start=1):
            if i > 1:
                pars[f"del_r{i}"] = par("del_r", 0.0)
                pars[f"sig2_{i}"] = par("sig2", 0.008)
            amp = "amp1" if i == 1 else "amp_o"
            spec += [(p, amp, f"del_r{i}", f"sig2_{i}") for p in sh["paths"]]
        amp_out, dr_out = ("amp_o" if n > 1 else "amp1"), f"del_r1/{reff1:.5f}"
        s2_last = f"sig2_{n}"
    elif mode == "crystal":
        pars.update(amp=par("amp", S02_ASSUMED), alpha=par("alpha", 0.0))
        for i, sh in enumerate(shells, start=1):
            pars[f"sig2_{i}"] = par("sig2", 0.005 if i == 1 else 0.008)
            spec += [(p, "amp", f"alpha*{p.reff:.5f}", f"sig2_{i}") for p in sh["paths"]]
        amp_out, dr_out, s2_last = "amp", "alpha", f"sig2_{n}"
    else:
        pars.update(amp=param(S02_ASSUMED, vary=False), alpha=par("alpha", 0.0), sig2_1=par("sig2", 0.005))
        if n > 1:
            pars["sig2_o"] = par("sig2", 0.008)
        for i, sh in enumerate(shells, start=1):
            s2 = "sig2_1" if i == 1 else "sig2_o"
            spec += [(p, "amp", f"alpha*{p.reff:.5f}", s2) for p in sh["paths"]]
        amp_out, dr_out, s2_last = "amp", "alpha", ("sig2_o" if n > 1 else "sig2_1")
    for p in outer:
        spec.append((p, amp_out, f"{dr_out}*{p.reff:.5f}", f"{OUTER_S2_FACTOR:g}*{s2_last}"))
    larch_paths = {}
    # L2,3 edges: chi is normalised by the whole smooth background, L3 + L2 (weight w), so above the L2
    # onset chi = (chi_L3 + w chi_L2) / (1 + w); the L2 fine structure is the same scattering started from
    # an edge l2_shift_ev higher (a photoelectron energy smaller by that much).
    w3 = 1.0 / (1.0 + l2_weight) if l2_shift_ev else 1.0
    for j, (p, amp, dr, s2) in enumerate(spec):
        s02 = amp if w3 == 1.0 else f"({amp})*{w3:.5f}"
        larch_paths[f"p{j}"] = _larch_path(p, s02=s02, e0="del_e0", deltar=dr, sigma2=s2)
        if l2_shift_ev:
            larch_paths[f"p{j}L2"] = _larch_path(p, s02=f"({amp})*{l2_weight * w3:.5f}",
                                                 e0=f"del_e0 + {l2_shift_ev:.4f}", deltar=dr, sigma2=s2)
    return param_group(**pars), larch_paths


def _run_feffit(kgrid, chigrid, pargroup, larch_paths, k_range, r_range, kweight, dk, window, e0_start):
    from larch import Group
    from larch.xafs import feffit, feffit_dataset, feffit_transform

    pargroup.del_e0.value = e0_start
    data = Group(k=kgrid, chi=chigrid)
    tr = feffit_transform(kmin=k_range[0], kmax=k_range[1], kweight=kweight, dk=dk, window=window,
                          rmin=r_range[0], rmax=r_range[1], fitspace="r")
    ds = feffit_dataset(data=data, paths=larch_paths, transform=tr)
    with quiet():
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


def _shell_amp(out, i, mode):
    if mode == "free":
        return _value(out, "amp1" if i == 1 else "amp_o")
    return _value(out, "amp")


def _shell_s2(out, i, mode):
    if mode == "fixed_n":
        return _value(out, "sig2_1" if i == 1 else "sig2_o")
    return _value(out, f"sig2_{i}")


def n_parameters(n_shells: int, mode: str) -> int:
    """Number of fitted parameters of a model with n_shells shells in the R window."""
    if mode == "free":
        return 4 + 2 * (n_shells - 1) + (1 if n_shells > 1 else 0)
    if mode == "crystal":
        return 3 + n_shells
    return 3 + (1 if n_shells > 1 else 0)


def _window_shells(shells, start):
    """Shells from index ``start`` on that cannot be separated from shells[start] (closer than SHELL_GAP)."""
    out = [shells[start]]
    for sh in shells[start + 1:]:
        if sh["reff"] - out[-1]["reff"] < SHELL_GAP:
            out.append(sh)
        else:
            break
    return out


def choose_model(paths, k_range, r_range=None, max_shells=None, outer=True):
    """Automatic model: the shells in the fit, the R window (A), the mode, N_idp.

    The first shell is always fitted, together with any shell closer than SHELL_GAP to it (they cannot be
    separated). Paths beyond the window whose peaks leak into it (reff up to rmax + OUTER_MARGIN: the next
    shells and multiple scattering) are modelled with parameters tied to the shells (``outer``;
    ``outer=False`` fits the shells alone): ignored, their tails bias the first-shell R by 0.01-0.05 A.
    (Taking the next shell into the window with its own parameters, tried as a way to get more
    independent points, made real EELS spectra worse: their second shell is less well modelled.)
    Returns (model dict {"shells": [...], "outer": [PathTable]}, r_range, mode, N_idp)."""
    shells = group_shells(paths)
    if not shells:
        raise InputError("no single-scattering path in the FEFF calculation: increase rmax")
    inner = _window_shells(shells, 0)
    rmin = max(R_MIN_WINDOW, inner[0]["reff"] - 0.9)
    if max_shells is not None:
        inner = inner[:max(1, int(max_shells))]
    if r_range is None:
        r_range = (round(rmin, 3), round(inner[-1]["reff"] + R_PAD, 3))
    r_range = (float(r_range[0]), float(r_range[1]))
    nidp = n_independent(k_range, r_range)
    n = len(inner)
    # keep at least ~2 independent points spare: otherwise constrain (N from the crystal, shared parameters)
    if nidp >= n_parameters(n, "free") + 2:
        mode = "free"
    elif n > 1 and nidp >= n_parameters(n, "crystal") + 2:
        mode = "crystal"
    else:
        mode = "fixed_n"
    in_window = {_path_key(p) for sh in inner for p in sh["paths"]}
    outer_paths = [p for p in paths if _path_key(p) not in in_window
                   and p.reff <= r_range[1] + OUTER_MARGIN] if outer else []
    if len(outer_paths) > MAX_OUTER_PATHS:
        outer_paths = sorted(outer_paths, key=lambda p: -p.degen / p.reff ** 2)[:MAX_OUTER_PATHS]
        outer_paths.sort(key=lambda p: p.reff)
    return {"shells": inner, "outer": outer_paths}, r_range, mode, nidp


def fit_shells(k, chi, paths, k_range, r_range=None, kweight=2, dk=1.0, window="hanning",
               e0_starts=(-5.0, 0.0, 5.0), l2_shift_ev=None, l2_weight=0.5, max_shells=None,
               mode=None, stability=True, outer=True) -> dict:
    """Fit neighbour shells to chi(k) with FEFF paths (Larch feffit in R space).

    k (1/A), chi: the data; paths: PathTables (``exelfs.theory.feff_paths``); k_range (1/A): fit window in k;
    r_range (A): fit window in R (automatic when None); kweight: k weighting; e0_starts: starting delta E0
    values (eV), the best fit wins and distinct minima are reported; l2_shift_ev: for L2,3 edges, the L2-L3
    spacing (eV): the L2 fine structure is modelled as a copy of the L3 one shifted by it, chi =
    (chi_L3 + l2_weight chi_L2) / (1 + l2_weight) as chi is normalised by the L3 + L2 background;
    mode: 'free' (first shell r, amplitude, sigma2 free), 'crystal' (N fixed to the structure, one
    expansion factor, one sigma2 per shell) or 'fixed_n' (also S0^2 fixed), automatic when None (from the
    independent points); outer: model the tails of further paths that leak into the R window (tied to the
    shells' parameters) instead of ignoring them. Uncertainties: Larch's (scaled to the misfit), a FEFF
    floor, and the spread of the results over the k weighting and k range (systematic).

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
    model, r_range, auto_mode, nidp = choose_model(paths, k_range, r_range, max_shells, outer=outer)
    mode = mode or auto_mode
    warnings: list[str] = []
    n_par = n_parameters(len(model["shells"]), mode)

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
    for i, sh in enumerate(model["shells"], start=1):
        r, r_err = _shell_r(best, sh, i, mode)
        amp, amp_err = _shell_amp(best, i, mode)
        s2, s2_err = _shell_s2(best, i, mode)
        if mode == "fixed_n":
            amp_err = np.nan
        shells_out.append(dict(scatterer=sh["scatterer"], r=r, r_err=r_err, amp=amp, amp_err=amp_err,
                               sigma2=s2, sigma2_err=s2_err, n_crystal=sh["n"], reff=sh["reff"]))

    # other minima fitting as well as the best (within 10% of its chi-square) but elsewhere in R
    for other in results[1:]:
        if other.chi_square > 1.10 * best.chi_square:
            continue
        r_o, _ = _shell_r(other, model["shells"][0], 1, mode)
        s0 = shells_out[0]
        if abs(r_o - s0["r"]) > max(2 * (s0["r_err"] if np.isfinite(s0["r_err"]) else 0), 0.01):
            warnings.append(f"two minima fit about equally well: first-shell R = {s0['r']:.3f} and {r_o:.3f} A "
                            f"(delta E0 {_value(best, 'del_e0')[0]:+.1f} vs {_value(other, 'del_e0')[0]:+.1f} eV);"
                            " the uncertainty covers both")
            s0["r_err_minima"] = max(s0.get("r_err_minima", 0.0), abs(r_o - s0["r"]))

    # stability of R against the analysis choices (a cheap measure of systematic error): the k weighting,
    # and the k range cut at either end (the near-edge region below kmin+1 and the noisy end both depart
    # from the model in real data); the fit model stays the same, started from the best fit
    if stability:
        variants = [(kw, k_range) for kw in sorted({1, 3} - {kweight})]
        if k_range[1] - k_range[0] >= 4.0:
            variants.append((kweight, (k_range[0] + 1.0, k_range[1])))
        if k_range[1] - k_range[0] >= 5.0:
            variants.append((kweight, (k_range[0], k_range[1] - 1.0)))
        for kw, kr in variants:
            pg, lp = _build(model, mode, l2_shift_ev, l2_weight)
            for name in best.params:  # start from the best fit: a few iterations instead of a full search
                if hasattr(pg, name) and getattr(best.params[name], "vary", False):
                    getattr(pg, name).value = best.params[name].value
            try:
                o = _run_feffit(kgrid, chigrid, pg, lp, kr, r_range, kw, dk, window,
                                _value(best, "del_e0")[0])
            except Exception:
                continue
            for i, (sh, so) in enumerate(zip(model["shells"], shells_out), start=1):
                r_v, _ = _shell_r(o, sh, i, mode)
                so["r_err_choices"] = max(so.get("r_err_choices", 0.0), abs(r_v - so["r"]))
                so["s2_err_choices"] = max(so.get("s2_err_choices", 0.0), abs(_shell_s2(o, i, mode)[0] - so["sigma2"]))
                so["amp_err_choices"] = max(so.get("amp_err_choices", 0.0), abs(_shell_amp(o, i, mode)[0] - so["amp"]))

    e0, e0_err = _value(best, "del_e0")
    names = [n for n in best.params if getattr(best.params[n], "vary", False)]
    first_shell = {"del_e0", "amp1", "del_r1", "sig2_1", "amp", "alpha"}
    first_on_bound = r_on_bound = False
    for name in names:
        p = best.params[name]
        lo, hi = p.min, p.max
        if np.isfinite(lo) and np.isfinite(hi) and min(abs(p.value - lo), abs(p.value - hi)) < 0.03 * (hi - lo):
            warnings.append(f"parameter {name} = {p.value:.4g} sits on its bound [{lo:g}, {hi:g}]: "
                            "its value and the others' uncertainties are not trustworthy")
            first_on_bound = first_on_bound or name in first_shell
            # R correlates with delta E0: either at its limit leaves the distance unmeasured
            r_on_bound = r_on_bound or name in ("del_r1", "alpha", "del_e0")
    if nidp < n_par:
        warnings.append(f"only {nidp:.1f} independent points for {n_par} parameters: the fit is underdetermined")

    out_shells = []
    for so in shells_out:
        stat = so["r_err"] if np.isfinite(so["r_err"]) else 0.1
        r_err = math.sqrt(stat ** 2 + R_SYSTEMATIC ** 2 + so.get("r_err_choices", 0.0) ** 2
                          + so.get("r_err_minima", 0.0) ** 2)
        if not np.isfinite(so["r_err"]):
            warnings.append(f"no uncertainty from the fit for the {so['scatterer']} shell (singular covariance)")
        if first_on_bound or nidp < n_par:
            r_err = max(r_err, 0.05)
        if r_on_bound:
            # the distance ran to the edge of what the fit allows: the data do not tell it from the
            # reference structure, so the whole departure is uncertain
            r_err = max(r_err, abs(so["r"] - so["reff"]))
        n = so["amp"] * so["n_crystal"] / S02_ASSUMED
        if mode == "fixed_n":
            n_err = None  # not measured: N is the crystal's
        else:
            amp_err = so["amp_err"] if np.isfinite(so["amp_err"]) else so["amp"]
            amp_err = math.hypot(amp_err, so.get("amp_err_choices", 0.0))
            n_err = round(n * math.sqrt((amp_err / max(so["amp"], 1e-6)) ** 2 + S02_REL_ERR ** 2), 2)
        s2_err = so["sigma2_err"] if np.isfinite(so["sigma2_err"]) else abs(so["sigma2"])
        s2_err = math.sqrt(s2_err ** 2 + so.get("s2_err_choices", 0.0) ** 2 + S2_SYSTEMATIC ** 2)
        if mode == "fixed_n":
            # the amplitude exp(-2 k^2 sigma2) absorbs the assumed S0^2 (+-S02_REL_ERR): at the middle of the
            # k range that uncertainty moves sigma2 by S02_REL_ERR / (2 k^2)
            k_mid = 0.5 * (k_range[0] + k_range[1])
            s2_err = math.hypot(s2_err, S02_REL_ERR / (2.0 * k_mid ** 2))
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
