"""Checks and repairs shared by all readers: one place where real-file quirks are refused or fixed.

Every repair appends one sentence to the ``warnings`` list the reader stores in
``Spectrum.metadata['warnings']``; every refusal raises :class:`InputError` with one sentence.
Energies are in eV after :func:`fix_axis`.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

MIN_CHANNELS = 20  # fewer channels than this cannot hold an edge and its fine structure
GAIN_STEP_FACTOR = 8.0  # intensity ratio across <= 4 channels that no edge produces in raw counts


def check_finite(values, name: str, what: str = "intensities"):
    """Refuse NaN or infinite values."""
    arr = np.asarray(values, dtype=float)
    bad = ~np.isfinite(arr)
    if bad.any():
        n = int(bad.sum())
        raise InputError(
            f"{name}: {n} of the {arr.size} {what} {'is' if n == 1 else 'are'} NaN or infinite; "
            "replace or remove those values and try again")


def check_enough(energy, name: str, what: str = "channels"):
    """Refuse spectra with fewer than MIN_CHANNELS channels."""
    n = int(np.size(energy))
    if n < MIN_CHANNELS:
        raise InputError(
            f"{name}: only {n} {what}, too few for a spectrum (need at least {MIN_CHANNELS})")


def check_not_flat(intensity, name: str):
    """Refuse a constant signal (nothing to analyse)."""
    y = np.asarray(intensity, dtype=float)
    if y.size == 0 or np.ptp(y) <= 1e-12 * max(float(np.max(np.abs(y))), 1e-300):
        value = float(y.flat[0]) if y.size else float("nan")
        raise InputError(f"{name}: every intensity equals {value:g} (a flat line): "
                         "there is no spectrum to analyse")


def looks_like_kev(energy) -> bool:
    """True when an axis without units is obviously in keV: all positive values below 30 with steps below
    0.01 (an eV axis like that would be a sub-30-eV spectrum at <10 meV/channel without a zero-loss
    peak, which is far less likely than a keV axis)."""
    e = np.asarray(energy, dtype=float)
    if e.size < 2:
        return False
    step = float(np.median(np.abs(np.diff(e))))
    return bool(np.all(e > 0) and e.max() < 30 and 0 < step < 0.01)


def fix_axis(energy, intensity, units: str | None, name: str, warnings: list,
             duplicates: str = "refuse"):
    """Return (energy in eV ascending, intensity) after unit conversion and reversal.

    units: the file's axis units ('eV', 'keV', '' or None when the file gives none).
    duplicates: 'refuse' (EELS: repeated energies make the axis unusable) or 'average' (X-ray scans that
    revisit an energy; the repeated points are averaged).
    """
    energy = np.asarray(energy, dtype=float)
    intensity = np.asarray(intensity, dtype=float)
    check_finite(energy, name, "energy values")
    u = (units or "").strip().lower().replace("(", "").replace(")", "")
    if u == "kev":
        energy = energy * 1000.0
        warnings.append("energy axis converted from keV to eV")
    elif u in ("mev",):  # milli-eV (monochromated vibrational spectra)
        energy = energy / 1000.0
        warnings.append("energy axis converted from meV to eV")
    elif u in ("", "none", "<undefined>", "undefined", "channel", "channels") and looks_like_kev(energy):
        energy = energy * 1000.0
        warnings.append("energy axis has no units but its values (below 30 with steps below 0.01) look like "
                        "keV: converted to eV")
    if energy.size < 2:
        return energy, intensity
    steps = np.diff(energy)
    if np.all(steps < 0):
        energy = energy[::-1].copy()
        intensity = intensity[..., ::-1].copy()
        warnings.append("energy axis was descending: reversed to ascending")
        steps = -steps[::-1]
    if np.all(steps > 0):
        return energy, intensity
    if np.all(steps >= 0) and duplicates == "average":
        uniq, inverse = np.unique(energy, return_inverse=True)
        flat = intensity.reshape(-1, energy.size)
        summed = np.zeros((flat.shape[0], uniq.size))
        for row, out in zip(flat, summed):
            np.add.at(out, inverse, row)
        counts = np.bincount(inverse)
        intensity = (summed / counts).reshape(intensity.shape[:-1] + (uniq.size,))
        warnings.append(f"{energy.size - uniq.size} repeated energy points averaged")
        return uniq, intensity
    i = int(np.argmax(steps <= 0)) if np.any(steps > 0) else int(np.argmax(steps >= 0))
    raise InputError(
        f"{name}: the energy axis is not monotonic (it goes from {energy[i]:g} to {energy[i + 1]:g} at "
        f"point {i + 1}); sort or clean the energy column before analysis")


def _leading_run(y: np.ndarray) -> int:
    """Length of the run of identical values at the start of y."""
    n = 1
    while n < y.size and y[n] == y[0]:
        n += 1
    return n


def _is_placeholder_run(y: np.ndarray, n: int) -> bool:
    """A run of n >= 3 identical leading values is a placeholder when it is far below the data after it:
    the serial-EELS atlas files pad unrecorded channels with 0.1 or -1. Runs of exact zeros are kept:
    background-subtracted spectra legitimately start with zeros."""
    if n < 3 or n >= y.size - MIN_CHANNELS:
        return False
    value = y[0]
    if value == 0:
        return False
    rest = np.abs(y[n:])
    return bool(value < 0 or abs(value) < 0.01 * float(np.median(rest)))


def _end_outlier(y: np.ndarray, at_start: bool) -> bool:
    """True when the first (or last) channel departs from a straight line through its 8 neighbours by more
    than 10 times their scatter and more than 10 % (old detectors' first/last readout channel)."""
    if y.size < 12:
        return False
    seg = y[1:9] if at_start else y[-9:-1][::-1]
    x = np.arange(1, 9, dtype=float)
    coef = np.polyfit(x, seg, 1)
    resid = seg - np.polyval(coef, x)
    sigma = float(np.std(resid, ddof=2))
    pred = float(np.polyval(coef, 0.0))
    end = float(y[0] if at_start else y[-1])
    dev = abs(end - pred)
    return bool(dev > 10 * max(sigma, 1e-12 * abs(pred)) and dev > 0.1 * abs(pred))


def _first_local_max(y: np.ndarray, limit: int) -> int:
    for i in range(1, min(limit, y.size - 1)):
        if y[i] >= y[i - 1] and y[i] >= y[i + 1]:
            return i
    return 0


def trim_channels(energy, intensity, warnings: list):
    """Drop placeholder channels, the rising start-up transient that follows them, and a single corrupted
    first/last channel. Judged on the summed spectrum; applied to every navigation position."""
    energy = np.asarray(energy, dtype=float)
    intensity = np.asarray(intensity, dtype=float)
    total = intensity.reshape(-1, energy.size).sum(axis=0)
    lo, hi = 0, energy.size
    info = {}

    n = _leading_run(total)
    if _is_placeholder_run(total, n):
        warnings.append(f"dropped {n} leading placeholder channels (constant {total[0]:g}) "
                        f"from {energy[0]:g} to {energy[n - 1]:g} eV")
        info["placeholder_channels"] = n
        lo = n
        # Right after the padding, serial detectors ramp up over a few channels to the real level: a
        # rise by more than 2x to the first local maximum within 8 channels (never at a zero-loss peak).
        seg = total[lo:lo + 10]
        k = _first_local_max(seg, 9)
        if k > 0 and seg[0] > 0 and seg[k] > 2 * seg[0] and abs(energy[lo + k]) > 10:
            warnings.append(f"dropped {k} start-up channels after the placeholders ({energy[lo]:g} to "
                            f"{energy[lo + k - 1]:g} eV: intensity ramping up by {seg[k] / seg[0]:.0f}x)")
            info["startup_channels"] = k
            lo += k
    n_end = _leading_run(total[::-1])
    if _is_placeholder_run(total[::-1], n_end) and hi - n_end > lo + MIN_CHANNELS:
        warnings.append(f"dropped {n_end} trailing placeholder channels (constant {total[-1]:g})")
        hi -= n_end
    if _end_outlier(total[lo:hi], at_start=True):
        warnings.append(f"dropped the first channel ({energy[lo]:g} eV, {total[lo]:g}): it departs from its "
                        "neighbours like a corrupted readout channel")
        lo += 1
    if _end_outlier(total[lo:hi], at_start=False):
        warnings.append(f"dropped the last channel ({energy[hi - 1]:g} eV, {total[hi - 1]:g}): it departs "
                        "from its neighbours like a corrupted readout channel")
        hi -= 1
    return energy[lo:hi], intensity[..., lo:hi], info


def find_zero_loss(energy, total) -> dict | None:
    """The zero-loss peak when the axis covers 0 eV and the strongest channel near 0 eV dominates the
    spectrum: {'position_ev', 'fwhm_ev', 'height'}; None otherwise."""
    energy = np.asarray(energy, float)
    total = np.asarray(total, float)
    if not (energy[0] < 5.0 and energy[-1] > -5.0):
        return None
    width = max(5.0, 3 * float(np.median(np.diff(energy))))
    near = np.abs(energy) <= width
    if not near.any():
        return None
    i = int(np.flatnonzero(near)[np.argmax(total[near])])
    peak = total[i]
    if peak <= 0 or peak < 0.5 * total.max() or peak < 10 * np.median(np.abs(total)):
        return None
    half = peak / 2
    left = i
    while left > 0 and total[left] > half:
        left -= 1
    right = i
    while right < total.size - 1 and total[right] > half:
        right += 1
    return {"position_ev": float(energy[i]), "fwhm_ev": float(energy[right] - energy[left]),
            "height": float(peak)}


def find_gain_steps(energy, total, zlp: dict | None) -> list[dict]:
    """Abrupt multiplicative jumps (factor >= GAIN_STEP_FACTOR within 4 channels) between two smooth
    segments: the gain changes between readout segments of old serial (PEELS) detectors. The zero-loss
    region is ignored. Returns [{'energy_ev', 'factor'}]."""
    energy = np.asarray(energy, float)
    y = np.asarray(total, float)
    w, side = 4, 8
    if y.size < 2 * side + w + 1:
        return []
    with np.errstate(divide="ignore", invalid="ignore"):
        ly = np.where(y > 0, np.log(np.where(y > 0, y, 1.0)), np.nan)
    jumps = ly[w:] - ly[:-w]
    ok = np.isfinite(jumps) & (np.abs(jumps) >= np.log(GAIN_STEP_FACTOR))
    if zlp is not None:
        centre = np.arange(jumps.size) + w // 2
        ok &= np.abs(energy[centre] - zlp["position_ev"]) > max(50.0, 5 * zlp["fwhm_ev"])
    steps = []
    idx = np.flatnonzero(ok)
    while idx.size:
        group = idx[idx <= idx[0] + 2 * w]
        idx = idx[idx > idx[0] + 2 * w]
        i = int(group[np.argmax(np.abs(jumps[group]))])
        before = ly[max(0, i - side):i + 1]
        after = ly[i + w:i + w + side + 1]
        if before.size < 4 or after.size < 4 or not (np.isfinite(before).all() and np.isfinite(after).all()):
            continue
        # both sides smooth: channel-to-channel scatter well below the jump (rules out noise near zero)
        scatter = max(np.std(np.diff(before)), np.std(np.diff(after)))
        if scatter > min(0.1, 0.2 * abs(jumps[i])):
            continue
        steps.append({"energy_ev": float(energy[i + w // 2]), "factor": float(np.exp(jumps[i]))})
    return steps


def clean_eels(energy, intensity, name: str, warnings: list, metadata: dict):
    """Trim channels, note the zero-loss peak and gain steps; refuse what cannot be analysed."""
    check_enough(energy, name)
    check_not_flat(intensity, name)
    energy, intensity, info = trim_channels(energy, intensity, warnings)
    metadata.update(info)
    check_enough(energy, name, "usable channels")
    total = intensity.reshape(-1, energy.size).sum(axis=0)
    check_not_flat(total, name)
    zlp = find_zero_loss(energy, total)
    if zlp is not None:
        metadata["zero_loss_peak"] = zlp
        if energy[-1] > 500:  # a core-loss range that starts with the zero-loss peak
            warnings.append(f"the spectrum includes the zero-loss peak at {zlp['position_ev']:.1f} eV (kept, "
                            "see metadata['zero_loss_peak']); core-loss analysis should use the range above it")
    steps = find_gain_steps(energy, total, zlp)
    if steps:
        metadata["gain_steps"] = steps
        for s in steps:
            warnings.append(
                f"intensity jumps by a factor {s['factor']:.3g} at {s['energy_ev']:.1f} eV: a detector gain "
                "change between readout segments (data left as is; analyse one side of it)")
    return energy, intensity


def edge_direction(energy, mu, width_ev: float = 20.0) -> tuple[float, float, float]:
    """(largest rise, largest fall, energy eV of the fall) of mu(E) over `width_ev`, on a 0.5 eV grid."""
    e = np.asarray(energy, float)
    y = np.asarray(mu, float)
    step = max(0.5, (e[-1] - e[0]) / 20000)
    grid = np.arange(e[0], e[-1], step)
    half = max(int(round(width_ev / 2 / step)), 1)
    if grid.size <= 2 * half:
        return 0.0, 0.0, float(e[0])
    yg = np.interp(grid, e, y)
    delta = yg[2 * half:] - yg[:-2 * half]
    i = int(np.argmin(delta))
    return float(delta.max()), float(-delta[i]), float(grid[i + half])


def clean_xas(energy, intensity, name: str, warnings: list):
    """Checks of an X-ray mu(E): enough points, not flat, the edge rising (an inverted or sign-flipped
    absorbance is refused), and a last point far out of line with its neighbours dropped (a file cut
    in its last number)."""
    check_enough(energy, name)
    check_not_flat(intensity, name)
    total = np.asarray(intensity, float).reshape(-1, np.size(energy)).sum(axis=0)
    if _end_outlier(total, at_start=False):
        warnings.append(f"dropped the last point ({energy[-1]:g} eV, mu {total[-1]:.4g}): it departs from "
                        "its neighbours like a value cut short (truncated file?)")
        energy, intensity, total = energy[:-1], intensity[..., :-1], total[:-1]
    rise, fall, where = edge_direction(energy, total)
    if fall > 1.5 * rise:
        raise InputError(f"{name}: mu(E) falls by {fall:.3g} near {where:.0f} eV, where an absorption edge "
                         "rises: the signal is inverted (ln(itrans/i0) instead of ln(i0/itrans), or multiplied "
                         "by -1); give mu(E) = ln(i0/itrans) or ifluor/i0")
    return energy, intensity
