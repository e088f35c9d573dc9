"""Neighbour-shell fits of chi(k) with FEFF paths through Larch's feffit.

The fit itself is Larch's ``feffit`` (R-space, Hanning windows); this module chooses the model
automatically from the paths and the information content of the data, runs several starts over delta E0,
and turns the result into honest shells (r, n, sigma2 with uncertainties) plus warnings.

Units: k in 1/angstrom, r in angstrom, sigma2 in angstrom^2, energies in eV.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..quiet import quiet
from ..theory.feff import FEFF_AMP_SIGMA2, FEFF_PHASE_R
from ..theory.shells import group_shells

S02_ASSUMED = 0.9          # S0^2 assumed when converting the fitted amplitude into N
S02_REL_ERR = 0.15         # relative uncertainty of that assumption (S0^2 = 0.75-1.05)
SHELL_GAP = 0.45           # shells closer than this (A) to the previous one cannot be separated: fit together
R_MIN_WINDOW = 0.8         # A: the R window never starts below this (the smooth background lives there)
R_PAD = 0.25               # A: the R window ends this far above the reff of its last shell
OUTER_MARGIN = 1.35        # A: paths up to this far beyond the window leak into it: modelled, tied
MAX_OUTER_PATHS = 16       # the strongest (degeneracy / reff^2) of those, for speed
OUTER_S2_FACTOR = 1.3      # sigma2 of the leaking outer paths relative to the last shell in the window
KSTEP = 0.05

# parameter bounds
BOUNDS = {"amp": (0.05, 4.0), "del_e0": (-12.0, 12.0), "sig2": (-0.01, 0.06), "del_r": (-0.35, 0.35),
          "alpha": (-0.12, 0.12)}


def n_independent(k_range, r_range) -> float:
    """Nyquist estimate of independent points, N_idp = 2 dk dR / pi (k in 1/A, R in A)."""
    return 2.0 * (k_range[1] - k_range[0]) * (r_range[1] - r_range[0]) / math.pi


def _larch_path(p, **kws):
    """A Larch FeffPathGroup for a PathTable, from the FeffDatFile parsed when the paths were read (the
    feffNNNN.dat is not parsed again)."""
    from larch.xafs.feffdat import FeffPathGroup

    if getattr(p, "feffdat", None) is None:
        return FeffPathGroup(filename=str(p.filename), label=p.label, **kws)
    group = FeffPathGroup(label=p.label, _feffdat=p.feffdat, **kws)
    # given a filename, FeffPathGroup parses the file again; feffit's copies need one: set it afterwards
    group.filename = str(p.filename)
    group.feffrun = str(Path(p.filename).parent)
    return group


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


def larch_path_set(spec, l2_shift_ev=None, l2_weight=0.5, prefix="p", e0="del_e0"):
    """Larch FeffPathGroups for ``spec`` [(PathTable, amplitude expr, delta R expr, sigma2 expr)], named
    prefix0, prefix1, ...; returns ({name: FeffPathGroup}, [each path as plain data]). L2,3 edges: chi is
    normalised by the whole smooth background, L3 + L2 (weight w), so above the L2 onset chi = (chi_L3 +
    w chi_L2) / (1 + w); the L2 fine structure is the same scattering started from an edge l2_shift_ev
    higher (a photoelectron energy smaller by that much)."""
    larch_paths, described = {}, []
    w3 = 1.0 / (1.0 + l2_weight) if l2_shift_ev else 1.0
    for j, (p, amp, dr, s2) in enumerate(spec):
        exprs = [(f"{prefix}{j}", amp if w3 == 1.0 else f"({amp})*{w3:.5f}", e0)]
        if l2_shift_ev:
            exprs.append((f"{prefix}{j}L2", f"({amp})*{l2_weight * w3:.5f}", f"{e0} + {l2_shift_ev:.4f}"))
        for name, s02_expr, e0_expr in exprs:
            larch_paths[name] = _larch_path(p, s02=s02_expr, e0=e0_expr, deltar=dr, sigma2=s2)
            described.append({"name": name, "label": p.label, "filename": str(p.filename), "reff": float(p.reff),
                              "nleg": int(p.nleg), "degen": float(p.degen), "s02": s02_expr, "e0": e0_expr,
                              "deltar": dr, "sigma2": s2})
    return larch_paths, described


def _build(model, mode, l2_shift_ev=None, l2_weight=0.5, s02=S02_ASSUMED):
    """Larch parameter group and path dict for a model (``choose_model``'s dict).

    Shells in the R window: the first shell, the others (``model['shells'][1:]``); paths outside the window
    that leak into it (``model['outer']``: further single- and multiple-scattering paths) are modelled with
    parameters tied to the shells, so that their tails do not bias the first shell.

    mode 'free': first shell amplitude, delta R, sigma2; each further shell its own delta R and sigma2 and
      one shared amplitude; one delta E0. 1 + 3 + 2 (n-1) + (n > 1) parameters.
    mode 'crystal': one amplitude (N of the crystal), one expansion factor alpha (delta R = alpha*reff), one
      sigma2 per shell, one delta E0: 3 + n parameters.
    mode 'fixed_n': N of the crystal with S0^2 = s02, one expansion factor, sigma2 of the first shell and one
      for the others, one delta E0: 3 + (n > 1) parameters.
    Paths in ``outer`` take the amplitude of the further shells (of the first when alone), the expansion of
    the first shell (delta R = reff * dR1/reff1) and sigma2 = OUTER_S2_FACTOR times that of the last shell
    in the window (outer shells are more disordered).

    Returns (Larch parameter group, {name: FeffPathGroup}, description): the description holds the same
    model as plain data ({"params": {name: {value, vary, min, max}}, "paths": [{name, label, filename, reff,
    s02, e0, deltar, sigma2}]}) for reports and scripts that redo the fit."""
    from larch.fitting import param, param_group

    def par(kind, value):
        lo, hi = BOUNDS[kind]
        return param(value, vary=True, min=lo, max=hi)

    s02 = float(s02)

    shells, outer = model["shells"], model.get("outer", [])
    n = len(shells)
    reff1 = shells[0]["reff"]
    pars = {"del_e0": par("del_e0", 0.0)}
    spec = []  # (path, amp expr, deltar expr, sigma2 expr)
    if mode == "free":
        pars.update(amp1=par("amp", s02), del_r1=par("del_r", 0.0), sig2_1=par("sig2", 0.005))
        if n > 1:
            pars["amp_o"] = par("amp", s02)
        for i, sh in enumerate(shells, start=1):
            if i > 1:
                pars[f"del_r{i}"] = par("del_r", 0.0)
                pars[f"sig2_{i}"] = par("sig2", 0.008)
            amp = "amp1" if i == 1 else "amp_o"
            spec += [(p, amp, f"del_r{i}", f"sig2_{i}") for p in sh["paths"]]
        amp_out, dr_out = ("amp_o" if n > 1 else "amp1"), f"del_r1/{reff1:.5f}"
        s2_last = f"sig2_{n}"
    elif mode == "crystal":
        pars.update(amp=par("amp", s02), alpha=par("alpha", 0.0))
        for i, sh in enumerate(shells, start=1):
            pars[f"sig2_{i}"] = par("sig2", 0.005 if i == 1 else 0.008)
            spec += [(p, "amp", f"alpha*{p.reff:.5f}", f"sig2_{i}") for p in sh["paths"]]
        amp_out, dr_out, s2_last = "amp", "alpha", f"sig2_{n}"
    else:
        pars.update(amp=param(s02, vary=False), alpha=par("alpha", 0.0), sig2_1=par("sig2", 0.005))
        if n > 1:
            pars["sig2_o"] = par("sig2", 0.008)
        for i, sh in enumerate(shells, start=1):
            s2 = "sig2_1" if i == 1 else "sig2_o"
            spec += [(p, "amp", f"alpha*{p.reff:.5f}", s2) for p in sh["paths"]]
        amp_out, dr_out, s2_last = "amp", "alpha", ("sig2_o" if n > 1 else "sig2_1")
    for p in outer:
        spec.append((p, amp_out, f"{dr_out}*{p.reff:.5f}", f"{OUTER_S2_FACTOR:g}*{s2_last}"))
    larch_paths, described = larch_path_set(spec, l2_shift_ev, l2_weight)
    params = {name: {"value": float(q.value), "vary": bool(q.vary), "min": float(q.min), "max": float(q.max)}
              for name, q in pars.items()}
    return param_group(**pars), larch_paths, {"params": params, "paths": described}


def run_feffit(pargroup, datasets, k_range, r_range, kweight, dk, window):
    """Larch's feffit over one or more datasets [(k grid, chi, {name: FeffPathGroup})] sharing one
    parameter group and one transform (R space)."""
    from larch import Group
    from larch.xafs import feffit, feffit_dataset, feffit_transform

    tr = feffit_transform(kmin=k_range[0], kmax=k_range[1], kweight=kweight, dk=dk, window=window,
                          rmin=r_range[0], rmax=r_range[1], fitspace="r")
    sets = [feffit_dataset(data=Group(k=k, chi=chi), paths=paths, transform=tr) for k, chi, paths in datasets]
    with quiet():
        return feffit(pargroup, sets if len(sets) > 1 else sets[0])


def _run_feffit(kgrid, chigrid, pargroup, larch_paths, k_range, r_range, kweight, dk, window, e0_start):
    pargroup.del_e0.value = e0_start
    return run_feffit(pargroup, [(kgrid, chigrid, larch_paths)], k_range, r_range, kweight, dk, window)


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
    separated); ``max_shells`` = N fits the first N shells instead. Paths beyond the window whose peaks leak into it (reff up to rmax + OUTER_MARGIN: the next
    shells and multiple scattering) are modelled with parameters tied to the shells (``outer``;
    ``outer=False`` fits the shells alone): ignored, their tails bias the first-shell R by 0.01-0.05 A.
    (Taking the next shell into the window with its own parameters, tried as a way to get more
    independent points, made real EELS spectra worse: their second shell is less well modelled.)
    Returns (model dict {"shells": [...], "outer": [PathTable]}, r_range, mode, N_idp)."""
    shells = group_shells(paths)
    if not shells:
        raise InputError("no single-scattering path in the FEFF calculation: increase rmax")
    inner = _window_shells(shells, 0) if max_shells is None else shells[:max(1, int(max_shells))]
    rmin = max(R_MIN_WINDOW, inner[0]["reff"] - 0.9)
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


def _starts(kgrid, chigrid, model, mode, settings, e0_starts, warnings):
    """One feffit per delta E0 start; the converged results, best first, each with its model description."""
    results = []
    for e0s in e0_starts:
        pg, lp, described = _build(model, mode, settings["l2_shift_ev"], settings["l2_weight"], settings["s02"])
        try:
            out = _run_feffit(kgrid, chigrid, pg, lp, settings["k_range"], settings["r_range"],
                              settings["kweight"], settings["dk"], settings["window"], e0s)
        except Exception as exc:  # noqa: BLE001 - a failed start is not fatal while another converges
            warnings.append(f"fit from delta E0 = {e0s:+.0f} eV failed: {exc}")
            continue
        results.append((out, described))
    if not results:
        raise InputError("the shell fit failed from every start: the chi(k) data may be empty or flat")
    results.sort(key=lambda o: o[0].chi_square)
    return results


def _raw_shells(best, model, mode):
    """Fitted values of each shell in the window, before uncertainties are combined."""
    rows = []
    for i, sh in enumerate(model["shells"], start=1):
        r, r_err = _shell_r(best, sh, i, mode)
        amp, amp_err = _shell_amp(best, i, mode)
        s2, s2_err = _shell_s2(best, i, mode)
        rows.append(dict(scatterer=sh["scatterer"], r=r, r_err=r_err, amp=amp,
                         amp_err=np.nan if mode == "fixed_n" else amp_err, sigma2=s2, sigma2_err=s2_err,
                         n_crystal=sh["n"], reff=sh["reff"]))
    return rows


def _other_minima(results, model, mode, rows, warnings):
    """Other minima fitting as well as the best (within 10 % of its chi-square) but elsewhere in R."""
    best = results[0][0]
    for other, _ in results[1:]:
        if other.chi_square > 1.10 * best.chi_square:
            continue
        r_o, _ = _shell_r(other, model["shells"][0], 1, mode)
        s0 = rows[0]
        if abs(r_o - s0["r"]) > max(2 * (s0["r_err"] if np.isfinite(s0["r_err"]) else 0), 0.01):
            warnings.append(f"two minima fit about equally well: first-shell R = {s0['r']:.3f} and {r_o:.3f} A "
                            f"(delta E0 {_value(best, 'del_e0')[0]:+.1f} vs {_value(other, 'del_e0')[0]:+.1f} eV);"
                            " the uncertainty covers both")
            s0["r_err_minima"] = max(s0.get("r_err_minima", 0.0), abs(r_o - s0["r"]))


def choice_variants(k_range, kweight) -> list:
    """The analysis choices a fit is redone with to measure its systematic spread: [(k weight, k range)],
    the other k weightings, and the k range (1/A) cut by 1 1/A at either end where it is long enough."""
    variants = [(kw, k_range) for kw in sorted({1, 3} - {kweight})]
    if k_range[1] - k_range[0] >= 4.0:
        variants.append((kweight, (k_range[0] + 1.0, k_range[1])))
    if k_range[1] - k_range[0] >= 5.0:
        variants.append((kweight, (k_range[0], k_range[1] - 1.0)))
    return variants


def _stability(kgrid, chigrid, best, model, mode, settings, rows):
    """Spread of R, sigma2 and amplitude over the analysis choices (a cheap measure of systematic error):
    the other k weightings, and the k range cut by 1 1/A at either end (the near-edge region and the noisy
    end both depart from the model in real data); same model, started from the best fit."""
    for kw, kr in choice_variants(settings["k_range"], settings["kweight"]):
        pg, lp, _ = _build(model, mode, settings["l2_shift_ev"], settings["l2_weight"], settings["s02"])
        for name in best.params:  # start from the best fit: a few iterations instead of a full search
            if hasattr(pg, name) and getattr(best.params[name], "vary", False):
                getattr(pg, name).value = best.params[name].value
        try:
            o = _run_feffit(kgrid, chigrid, pg, lp, kr, settings["r_range"], kw, settings["dk"],
                            settings["window"], _value(best, "del_e0")[0])
        except Exception:  # noqa: BLE001 - a variant that fails adds no spread
            continue
        for i, (sh, so) in enumerate(zip(model["shells"], rows), start=1):
            so["r_err_choices"] = max(so.get("r_err_choices", 0.0), abs(_shell_r(o, sh, i, mode)[0] - so["r"]))
            so["s2_err_choices"] = max(so.get("s2_err_choices", 0.0), abs(_shell_s2(o, i, mode)[0] - so["sigma2"]))
            so["amp_err_choices"] = max(so.get("amp_err_choices", 0.0), abs(_shell_amp(o, i, mode)[0] - so["amp"]))


def _bounds(best, warnings) -> list[str]:
    """Names of the varied parameters that ended on (within 3 % of) a bound, with a warning each."""
    hit = []
    for name in [n for n in best.params if getattr(best.params[n], "vary", False)]:
        p = best.params[name]
        lo, hi = p.min, p.max
        if np.isfinite(lo) and np.isfinite(hi) and min(abs(p.value - lo), abs(p.value - hi)) < 0.03 * (hi - lo):
            warnings.append(f"parameter {name} = {p.value:.4g} sits on its bound [{lo:g}, {hi:g}]: "
                            "its value and the others' uncertainties are not trustworthy")
            hit.append(name)
    return hit


FIRST_SHELL_PARAMS = {"del_e0", "amp1", "del_r1", "sig2_1", "amp", "alpha"}
R_PARAMS = {"del_r1", "alpha", "del_e0"}  # R correlates with delta E0: either at its limit leaves R unmeasured


def _r_error(so, first_on_bound, underdetermined, r_on_bound):
    """First-shell R uncertainty (A) and how it is built: statistical (Larch, scaled to the misfit), FEFF
    phase accuracy, spread over analysis choices and over equal minima, in quadrature; then floors."""
    stat = so["r_err"] if np.isfinite(so["r_err"]) else 0.1
    budget = {"statistical": stat, "feff_phase": FEFF_PHASE_R, "analysis_choices": so.get("r_err_choices", 0.0),
              "other_minima": so.get("r_err_minima", 0.0)}
    r_err = math.sqrt(sum(v ** 2 for v in budget.values()))
    floors = []
    if first_on_bound or underdetermined:
        r_err = max(r_err, 0.05)
        floors.append("at least 0.05 A: a first-shell parameter on its bound or too few independent points")
    if r_on_bound:
        # the distance ran to the edge of what the fit allows: the data do not tell it from the reference
        r_err = max(r_err, abs(so["r"] - so["reff"]))
        floors.append("at least the whole departure from the reference distance: R or delta E0 on its bound")
    if so["sigma2"] < 0:
        r_err = max(r_err, 0.03)
        floors.append("at least 0.03 A: negative sigma2")
    return r_err, budget, floors


def _amplitude_error(so, mode, s02, s02_given):
    """(n, n_err or None, budget): N = amplitude * N_crystal / S0^2 and its uncertainty."""
    n = so["amp"] * so["n_crystal"] / s02
    if mode == "fixed_n":
        return n, None, {"note": "not measured: N is the crystal's"}
    amp_err = so["amp_err"] if np.isfinite(so["amp_err"]) else so["amp"]
    rel_stat = math.hypot(amp_err, so.get("amp_err_choices", 0.0)) / max(so["amp"], 1e-6)
    rel_s02 = 0.0 if s02_given else S02_REL_ERR
    budget = {"statistical_and_choices_rel": rel_stat, "s02_rel": rel_s02}
    return n, round(n * math.hypot(rel_stat, rel_s02), 2), budget


def _sigma2_error(so, mode, k_range, s02_given):
    """sigma2 uncertainty (A^2) and its budget: statistical, analysis choices, FEFF amplitude accuracy."""
    stat = so["sigma2_err"] if np.isfinite(so["sigma2_err"]) else abs(so["sigma2"])
    budget = {"statistical": stat, "analysis_choices": so.get("s2_err_choices", 0.0), "feff_amplitude": FEFF_AMP_SIGMA2}
    if mode == "fixed_n" and not s02_given:
        # the amplitude exp(-2 k^2 sigma2) absorbs the assumed S0^2 (+-S02_REL_ERR): at the middle of the
        # k range that uncertainty moves sigma2 by S02_REL_ERR / (2 k^2)
        k_mid = 0.5 * (k_range[0] + k_range[1])
        budget["assumed_s02"] = S02_REL_ERR / (2.0 * k_mid ** 2)
    s2_err = math.sqrt(sum(v ** 2 for v in budget.values()))
    if so["sigma2"] < 0:
        s2_err = max(s2_err, abs(so["sigma2"]))
    return s2_err, budget


def _shells_out(rows, mode, settings, hit, underdetermined, warnings):
    """Shells of the result in rising r, each with its uncertainties, their budget and honesty flags."""
    first_on_bound = bool(set(hit) & FIRST_SHELL_PARAMS)
    r_on_bound = bool(set(hit) & R_PARAMS)
    s02, s02_given = settings["s02"], settings["s02_given"]
    out = []
    for so in rows:
        if not np.isfinite(so["r_err"]):
            warnings.append(f"no uncertainty from the fit for the {so['scatterer']} shell (singular covariance)")
        stat_s2 = so["sigma2_err"] if np.isfinite(so["sigma2_err"]) else 0.0
        if so["sigma2"] < 0:
            warnings.append(f"negative sigma2 ({so['sigma2']:.4f} A^2) for the {so['scatterer']} shell: "
                            "unphysical, amplitude and sigma2 are not determined by these data")
        r_err, r_budget, floors = _r_error(so, first_on_bound, underdetermined, r_on_bound)
        n, n_err, n_budget = _amplitude_error(so, mode, s02, s02_given)
        s2_err, s2_budget = _sigma2_error(so, mode, settings["k_range"], s02_given)
        out.append({"scatterer": so["scatterer"], "r": round(so["r"], 4), "r_err": round(r_err, 4),
                    "n": round(n, 2), "n_err": n_err, "sigma2": round(so["sigma2"], 5),
                    "sigma2_err": round(s2_err, 5), "r_crystal": round(so["reff"], 4), "n_crystal": so["n_crystal"],
                    "error_budget": {"r": {k: round(v, 4) for k, v in r_budget.items()}, "r_floors": floors,
                                     "n": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in n_budget.items()},
                                     "sigma2": {k: round(v, 5) for k, v in s2_budget.items()}},
                    "flags": {"sigma2_negative_beyond_error": bool(so["sigma2"] + stat_s2 < 0),
                              "amplitude_on_bound": bool(set(hit) & {"amp1", "amp", "amp_o"}),
                              "r_on_bound": r_on_bound}})
    out.sort(key=lambda s: s["r"])
    return out


def _n_from(mode, s02, s02_given):
    where = f"S0^2 = {s02:g} as given" if s02_given else f"S0^2 assumed {s02:g} +-{S02_REL_ERR:.0%}"
    if mode == "fixed_n":
        return (f"N fixed to the crystal structure and {where} (too few independent points to fit the amplitude): "
                "n is the crystal's, not a measurement")
    if mode == "crystal":
        return f"N fixed to the crystal structure; fitted amplitude = S0^2 (reported n = amplitude*N/{s02:g})"
    return f"n = fitted amplitude (S0^2*N) / S0^2, {where}"


def fit_shells(k, chi, paths, k_range, r_range=None, kweight=2, dk=1.0, window="hanning",
               e0_starts=(-5.0, 0.0, 5.0), l2_shift_ev=None, l2_weight=0.5, max_shells=None,
               mode=None, stability=True, outer=True, s02=None) -> dict:
    """Fit neighbour shells to chi(k) with FEFF paths (Larch feffit in R space).

    k (1/A), chi: the data; paths: PathTables (``exelfs.theory.feff_paths``); k_range (1/A): fit window in k;
    r_range (A): fit window in R (automatic when None); kweight: k weighting; e0_starts: starting delta E0
    values (eV), the best fit wins and distinct minima are reported; l2_shift_ev: for L2,3 edges, the L2-L3
    spacing (eV): the L2 fine structure is modelled as a copy of the L3 one shifted by it, chi =
    (chi_L3 + l2_weight chi_L2) / (1 + l2_weight); max_shells: fit the first N shells (automatic when None:
    the first shell and those it cannot be separated from); mode: 'free', 'crystal' (N of the structure, one
    expansion factor) or 'fixed_n' (also S0^2 fixed), automatic from the independent points when None;
    outer: model the tails of further paths leaking into the R window; s02: S0^2 to convert the amplitude
    into N (assumed 0.9 +-15 % when None). Uncertainties: Larch's (scaled to the misfit), FEFF accuracy, and
    the spread over k weighting, k range and equal minima; each shell's ``error_budget`` says how.

    Returns {"shells", "e0_shift", "e0_shift_err", "warnings", "n_independent", "n_parameters", "k_range",
    "r_range", "kweight", "mode", "chi2_reduced", "r_factor", "n_from", "bounds_hit", "model" (the model as
    data: params and paths), "curves" (numpy arrays for plots)}."""
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
    settings = {"k_range": k_range, "r_range": r_range, "kweight": kweight, "dk": dk, "window": window,
                "l2_shift_ev": l2_shift_ev, "l2_weight": l2_weight, "s02": S02_ASSUMED if s02 is None else float(s02),
                "s02_given": s02 is not None}
    warnings: list[str] = []
    n_par = n_parameters(len(model["shells"]), mode)
    results = _starts(kgrid, chigrid, model, mode, settings, e0_starts, warnings)
    best, described = results[0]
    rows = _raw_shells(best, model, mode)
    _other_minima(results, model, mode, rows, warnings)
    if stability:
        _stability(kgrid, chigrid, best, model, mode, settings, rows)
    hit = _bounds(best, warnings)
    if nidp < n_par:
        warnings.append(f"only {nidp:.1f} independent points for {n_par} parameters: the fit is underdetermined")
    out_shells = _shells_out(rows, mode, settings, hit, nidp < n_par, warnings)
    e0, e0_err = _value(best, "del_e0")
    for name, q in best.params.items():  # the model as fitted, for scripts that redo the fit
        if name in described["params"]:
            described["params"][name]["value"] = float(q.value)
    ds = best.datasets[0]
    curves = {"k": ds.data.k, "chi": ds.data.chi, "chi_model": ds.model.chi, "kwin": ds.model.kwin,
              "r": ds.data.r, "chir": ds.data.chir, "chir_model": ds.model.chir, "rwin": ds.data.rwin}
    if mode == "fixed_n":
        warnings.append("coordination numbers not fitted (too few independent points): n is the crystal's")
    return {
        "shells": out_shells, "e0_shift": round(e0, 3),
        "e0_shift_err": round(e0_err, 3) if np.isfinite(e0_err) else None,
        "warnings": warnings, "n_independent": round(nidp, 2), "n_parameters": n_par,
        "k_range": [round(k_range[0], 3), round(k_range[1], 3)], "r_range": [round(r_range[0], 3), round(r_range[1], 3)],
        "kweight": kweight, "dk": dk, "window": window, "mode": mode, "chi2_reduced": float(best.chi2_reduced),
        "r_factor": float(getattr(best, "rfactor", np.nan)), "n_from": _n_from(mode, settings["s02"], s02 is not None),
        "l2_shift_ev": l2_shift_ev, "bounds_hit": hit, "model": described, "curves": curves,
    }
