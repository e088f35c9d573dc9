"""One honesty rule for every method: what the data cannot support goes to ``undetermined_shells``.

A shell is undetermined, with the reason, when the fit is bad (R-factor), the data hold fewer independent
points than the parameters, the first-shell distance is known no better than R_ERR_ANSWER, sigma2 is
negative beyond its error, the amplitude sits on its bound, (networks) the posterior echoes the training
prior or neighbours of different kinds are not separated (exelfs.pipeline.neighbours), or (networks) the spectrum is unlike those the
network was trained on. A failing first shell takes the others with it (their parameters are tied to it).
"""

from __future__ import annotations

R_ERR_ANSWER = 0.15    # A: a first shell known no better than this is not an answer
R_FACTOR_MAX = 0.40    # misfit (Larch R-factor) above which the model explains less than 60 % of the data


def _shell_reason(shell: dict) -> str | None:
    flags = shell.get("flags", {})
    if flags.get("sigma2_negative_beyond_error"):
        return f"sigma2 = {shell['sigma2']:.4f} A^2 is negative beyond its error"
    if flags.get("amplitude_on_bound"):
        return "the amplitude (N) sits on its bound"
    for key in ("prior_echoed", "ambiguous_neighbours"):  # networks: exelfs.pipeline.neighbours
        if flags.get(key):
            return flags[key]
    return None


def _fit_reason(shells: list, stats: dict) -> str | None:
    if stats.get("ood_reason"):  # the network's flag: a spectrum unlike those it was trained on
        return f"unseen by the network: {stats['ood_reason']}"
    n_idp, n_par = stats.get("n_independent"), stats.get("n_parameters")
    if n_idp is not None and n_par is not None and n_idp < n_par:
        return f"fewer independent points ({n_idp:.1f}) than parameters ({n_par})"
    r_factor = stats.get("r_factor")
    if r_factor is not None and r_factor > R_FACTOR_MAX:
        return f"bad fit: R-factor {r_factor:.2f} (above {R_FACTOR_MAX:g}), the model does not describe the data"
    if shells and shells[0]["r_err"] > R_ERR_ANSWER:
        return f"too uncertain: R = {shells[0]['r']:.2f} +- {shells[0]['r_err']:.2f} A (more than {R_ERR_ANSWER} A)"
    return None


def judge(shells: list, stats: dict) -> tuple[list, list, list]:
    """(answered shells, undetermined shells each with 'reason', warnings) under the one rule."""
    reason = _fit_reason(shells, stats) or (_shell_reason(shells[0]) if shells else None)
    if reason:
        undetermined = [dict(s, reason=reason) for s in shells]
        warning = (f"the first shell is not determined by these data ({reason}): no distance is reported; "
                   "see 'undetermined_shells'")
        return [], undetermined, [warning] if shells else []
    answered, undetermined, warnings = [shells[0]], [], []
    for s in shells[1:]:
        why = _shell_reason(s)
        if why:
            undetermined.append(dict(s, reason=why))
            warnings.append(f"the {s['scatterer']} shell at {s['r']:.2f} A is not determined ({why}); "
                            "see 'undetermined_shells'")
        else:
            answered.append(s)
    return answered, undetermined, warnings
