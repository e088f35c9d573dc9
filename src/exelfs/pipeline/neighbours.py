"""What the data determine, shell by shell, and neighbours of different kinds at nearby distances.

A network's answer is only as good as the contraction of its posterior over the training prior: a shell
whose R or N posterior sd is above PRIOR_ECHO times the prior's sd (uniform priors of exelfs.nn.config.Ranges,
sd = width / sqrt(12)) is the prior echoed back. Shells of different scatterers within NEIGHBOUR_TOL of each
other are reported as one group: partial N each, their correlation, the summed N, and whether the data
separate them. Units: R in angstrom, N a count.
"""

from __future__ import annotations

import numpy as np

PRIOR_ECHO = 0.7      # posterior sd / prior sd above which the data have removed less than half the prior variance
NEIGHBOUR_TOL = 0.3   # A: about pi / (2 k_max) at k_max ~ 5-6 1/A (EELS): closer shells beat rather than resolve
CORREL_AMBIGUOUS = 0.7  # |correlation| of two partial N above which the data trade one for the other


def _uniform_sd(lo_hi) -> float:
    return (lo_hi[1] - lo_hi[0]) / np.sqrt(12.0)


def prior_sd(ranges, r_crystal: float, n_crystal: float) -> dict:
    """The training prior's sd of one shell's R (A; lattice expansion plus own shift) and N (n_scale x N_crystal)."""
    r_sd = float(np.hypot(r_crystal * _uniform_sd(ranges.lattice), _uniform_sd(ranges.r_shell)))
    return {"r": r_sd, "n": float(n_crystal * _uniform_sd(ranges.n_scale))}


def r_prior_echoed(r_err, ranges, r_crystal: float):
    """True where an R error (A; scalar or array) is above PRIOR_ECHO times the prior's sd of that shell's R."""
    return np.asarray(r_err, float) > PRIOR_ECHO * prior_sd(ranges, r_crystal, 0.0)["r"]


def mark_prior_echo(shells: list, ranges) -> None:
    """Add to each shell's error_budget its posterior/prior sd ratios; flag 'prior_echoed' (a reason: the shell is
    no answer) where R is not contracted below PRIOR_ECHO of its prior, 'n_prior_echoed' where N is not (the
    distance may stand; N is then the prior's, said in a warning, and decides neighbour groups). In place."""
    for s in shells:
        p = prior_sd(ranges, s["r_crystal"], s["n_crystal"])
        ratios = {"r": s["r_err"] / p["r"], "n": None if s.get("n_err") is None else s["n_err"] / p["n"]}
        s["error_budget"]["prior_contraction"] = {
            "r_posterior_over_prior_sd": round(ratios["r"], 3), "r_prior_sd": round(p["r"], 4),
            "n_posterior_over_prior_sd": None if ratios["n"] is None else round(ratios["n"], 3),
            "n_prior_sd": round(p["n"], 3), "threshold": PRIOR_ECHO}
        for key, label, unit, flag in (("r", "R", " A", "prior_echoed"), ("n", "N", "", "n_prior_echoed")):
            reason = None if ratios[key] is None else echo_reason(f"{label} posterior sd", s[f"{key}_err"], p[key], unit)
            if reason:
                s["flags"][flag] = reason


def echo_reason(what: str, err: float, prior: float, unit: str = "") -> str | None:
    """The sentence saying the data do not determine a quantity whose error ``err`` (``what``, in ``unit``) is
    above PRIOR_ECHO times its prior's width ``prior``; None where they do."""
    ratio = err / max(prior, 1e-12)
    if ratio <= PRIOR_ECHO:
        return None
    return (f"the data do not determine it: {what} {err:.3g}{unit} is {ratio:.2f}x the prior's {prior:.3g}{unit} "
            f"(above {PRIOR_ECHO:g})")


def neighbour_groups(shells: list, ranges, names: list, correlation, source: str) -> list:
    """Groups of shells of different scatterers whose R lie within NEIGHBOUR_TOL: partial N with errors, their
    correlation (from ``correlation`` over ``names`` n1, n2, ..., built as ``source``), the summed N with its
    error, and the verdict. Marks the shells of an ambiguous group with flag 'ambiguous_neighbours' (in place)."""
    corr = np.asarray(correlation, float) if correlation is not None else None
    groups, used = [], set()
    for i, s in enumerate(shells):
        if i in used:
            continue
        members = [j for j in range(i, len(shells)) if j not in used and abs(shells[j]["r"] - s["r"]) < NEIGHBOUR_TOL]
        if len({shells[j]["scatterer"] for j in members}) < 2 or any(shells[j].get("n_err") is None for j in members):
            continue
        used.update(members)
        err = np.array([shells[j]["n_err"] for j in members])
        idx = [names.index(f"n{j + 1}") if f"n{j + 1}" in names else None for j in members]
        rho = np.eye(len(members))
        if corr is not None and None not in idx:
            rho = corr[np.ix_(idx, idx)]
        total = float(sum(shells[j]["n"] for j in members))
        total_err = float(np.sqrt(err @ rho @ err))
        total_prior = float(np.sqrt(sum(prior_sd(ranges, shells[j]["r_crystal"], shells[j]["n_crystal"])["n"] ** 2
                                        for j in members)))
        echoed = [shells[j]["scatterer"] for j in members if shells[j]["flags"].get("n_prior_echoed")]
        off = rho[~np.eye(len(members), dtype=bool)]
        max_rho = float(np.max(np.abs(off)))
        if echoed:
            verdict, why = "ambiguous", f"the partial N of {', '.join(echoed)} echo the prior"
        elif max_rho > CORREL_AMBIGUOUS:
            verdict, why = "ambiguous", f"the partial N are correlated by {max_rho:.2f} (above {CORREL_AMBIGUOUS:g})"
        else:
            verdict, why = "separated", (f"each partial N is contracted below {PRIOR_ECHO:g} of its prior and their "
                                         f"correlation {max_rho:.2f} is below {CORREL_AMBIGUOUS:g}")
        total_determined = total_err < PRIOR_ECHO * total_prior
        if verdict == "ambiguous":
            for j in members:
                shells[j]["flags"]["ambiguous_neighbours"] = (
                    f"not separated from its neighbours at {shells[members[0]]['r']:.2f}-{shells[members[-1]]['r']:.2f}"
                    f" A: {why}")
        groups.append({"scatterers": [shells[j]["scatterer"] for j in members],
                       "r": [shells[j]["r"] for j in members], "r_crystal": [shells[j]["r_crystal"] for j in members],
                       "partial_n": [shells[j]["n"] for j in members], "partial_n_err": err.round(2).tolist(),
                       "correlation": np.round(rho, 3).tolist(), "correlation_source": source,
                       "n_total": round(total, 2), "n_total_err": round(total_err, 2),
                       "n_total_prior_sd": round(total_prior, 2), "n_total_determined": bool(total_determined),
                       "verdict": verdict, "reason": why})
    return groups
