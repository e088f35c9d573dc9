"""EELS readers: EMSA/MSA text (EELS DB included), Gatan DM3/DM4 and HDF5 (HyperSpy/RosettaSciIO), plain
two-column text. All return (energy eV, intensity, acquisition dict, metadata dict, warnings list) before
the shared clean-up in :mod:`exelfs.io.validate`."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..quiet import quiet
from .text import check_last_number, library_copy, parse_columns, read_text, split_numbers, to_float

log = logging.getLogger(__name__)

XAS_TYPES = {"xas", "xafs", "xanes", "exafs", "nexafs"}


def _emsa_header(line: str) -> tuple[str, str]:
    """'#BEAMKV   -kV: 200' -> ('BEAMKV', '200')."""
    key, _, value = line[1:].partition(":")
    key = key.strip().split("-")[0].strip().upper()
    return key, value.strip()


def parse_emsa(text: str, name) -> dict:
    """Parse EMSA/MAS text ourselves: RosettaSciIO ignores the X column of DATATYPE XY files (so it
    would misplace a descending or irregular axis) and does not notice truncation.

    Returns {'header': {KEY: value}, 'energy', 'intensity', 'units'}."""
    header: dict[str, str] = {}
    values: list[list[float]] = []
    widths: list[int] = []
    in_data = ended = False
    lines = text.splitlines()
    last_line = max((i for i, raw in enumerate(lines, start=1) if raw.strip()), default=0)
    for lineno, line in enumerate(lines, start=1):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            key, value = _emsa_header(s)
            if key == "SPECTRUM":
                in_data = True
            elif key == "ENDOFDATA":
                ended = True
                break
            elif not in_data:
                header[key] = value
            continue
        if not in_data:
            raise InputError(f"{name}: line {lineno} holds data before the '#SPECTRUM' line; "
                             "this is not a valid EMSA/MSA file")
        tokens = split_numbers(s)
        if not tokens:  # a line of separators only
            continue
        try:
            values.append([to_float(t) for t in tokens])
        except ValueError:
            bad = next(t for t in tokens if not _number(t))
            if lineno == last_line:  # the very last line, cut off mid-number
                raise InputError(f"{name}: the file ends in the middle of line {lineno}: it is "
                                 "truncated") from None
            raise InputError(f"{name}: line {lineno} holds text ('{bad[:30]}') where numbers belong; "
                             "fix or remove that line") from None
        if lineno == last_line:
            check_last_number(text, tokens[-1], widths, lineno, name)
        widths = (widths + [len(tokens[-1])])[-50:]
    if "FORMAT" not in header and "NPOINTS" not in header:
        raise InputError(f"{name}: no EMSA header (#FORMAT, #NPOINTS...): this is not an EMSA/MSA file")
    if not in_data:
        raise InputError(f"{name}: no '#SPECTRUM' line: the EMSA file is truncated or damaged")
    if not values:
        raise InputError(f"{name}: the EMSA file holds no data after its header (truncated?)")
    datatype = header.get("DATATYPE", "").upper()
    if not datatype:
        datatype = "XY" if all(len(v) == 2 for v in values) else "Y"
    try:
        npoints = int(round(float(header["NPOINTS"]))) if header.get("NPOINTS") else None
    except ValueError:
        npoints = None
    units = header.get("XUNITS", "")
    if datatype == "XY":
        short = [i for i, v in enumerate(values) if len(v) < 2]
        if short:
            raise InputError(f"{name}: data line {short[0] + 1} has {len(values[short[0]])} number where "
                             "DATATYPE XY needs energy and intensity (truncated or damaged file?)")
        arr = np.asarray([v[:2] for v in values], dtype=float)
        energy, intensity = arr[:, 0], arr[:, 1]
    else:
        intensity = np.asarray([x for v in values for x in v], dtype=float)
        try:
            offset = float(header.get("OFFSET", "0") or 0)
            step = float(header["XPERCHAN"])
        except (KeyError, ValueError):
            raise InputError(f"{name}: a single column of numbers but no valid #XPERCHAN: the energy "
                             "axis is undefined; add #OFFSET and #XPERCHAN (eV) to the header") from None
        if step == 0:
            raise InputError(f"{name}: #XPERCHAN is 0: the energy axis is undefined")
        energy = offset + step * np.arange(intensity.size)
    warnings = []
    if npoints is not None and intensity.size == npoints - 1 and ended:
        # EELS Atlas exports end one channel short of their #NPOINTS; HyperSpy reads them as they are
        warnings.append(f"the file holds {intensity.size} channels, one fewer than its #NPOINTS {npoints} "
                        "(complete up to #ENDOFDATA): read as it is")
    elif npoints is not None and intensity.size < npoints:
        raise InputError(f"{name}: the header promises {npoints} channels but the file holds "
                         f"{intensity.size}: it is truncated")
    if npoints is not None and intensity.size > npoints:
        warnings.append(f"the file holds {intensity.size} channels, more than its #NPOINTS {npoints}")
    if not ended:
        warnings.append("no '#ENDOFDATA' line: the file may be truncated (all promised channels are present)")
    return {"header": header, "energy": energy, "intensity": intensity, "units": units,
            "warnings": warnings}


def _number(t: str) -> bool:
    try:
        to_float(t)
        return True
    except ValueError:
        return False


def _acquisition_from_md(md: dict) -> dict:
    tem = (md or {}).get("Acquisition_instrument", {}).get("TEM", {})
    eels = tem.get("Detector", {}).get("EELS", {})
    return {"beam_energy_kev": tem.get("beam_energy"), "convergence_mrad": tem.get("convergence_angle"),
            "collection_mrad": eels.get("collection_angle")}


def read_msa(path: Path) -> dict:
    """EMSA/MSA (also the EELS Data Base's text format). Acquisition parameters (BEAMKV, CONVANGLE,
    COLLANGLE) through RosettaSciIO's own mapping."""
    notes: list[str] = []
    text = read_text(path, notes)
    parsed = parse_emsa(text, path)
    acquisition = {}
    try:  # metadata only; the numbers come from our parse
        from rsciio.msa import file_reader

        with quiet(), library_copy(path, text) as readable:  # malformed DATE/TIME notes: irrelevant here
            acquisition = _acquisition_from_md(file_reader(str(readable))[0].get("metadata", {}))
    except Exception as exc:  # noqa: BLE001 - a metadata failure must not lose the spectrum
        log.debug("rsciio could not read the metadata of %s: %s", path, exc)
    h = parsed["header"]
    for key, field in (("BEAMKV", "beam_energy_kev"), ("CONVANGLE", "convergence_mrad"),
                       ("COLLANGLE", "collection_mrad")):
        if acquisition.get(field) is None and h.get(key):
            try:
                acquisition[field] = float(h[key])
            except ValueError:
                pass
    metadata = {"format": "emsa", "title": h.get("TITLE", ""), "owner": h.get("OWNER", ""),
                "signal_type": h.get("SIGNALTYPE", "")}
    return {"energy": parsed["energy"], "intensity": parsed["intensity"], "units": parsed["units"],
            "acquisition": acquisition, "metadata": metadata, "warnings": notes + parsed["warnings"],
            "title": h.get("TITLE", "")}


def read_hyperspy(path: Path) -> dict:
    """Gatan .dm3/.dm4, HyperSpy .hspy/.hdf5, .emd through ``hs.load(path, signal_type='EELS')``.
    Spectrum images keep their navigation shape; the navigation axes are described in metadata."""
    import hyperspy.api as hs

    from ..spectrum import Spectrum

    try:
        # loaded without forcing the type first, to honour a file that says it holds X-ray absorption;
        # everything else becomes an EELSSpectrum as ``hs.load(path, signal_type="EELS")`` would make it
        loaded = hs.load(str(path))
    except Exception as exc:  # noqa: BLE001 - any reader failure on a file is the file's problem
        raise InputError(f"{path}: could not be read as an EELS file ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:120] if str(exc) else 'no detail'}); "
                         "the file may be damaged or truncated") from None
    signals = loaded if isinstance(loaded, list) else [loaded]
    spectra = [s for s in signals if s.axes_manager.signal_dimension == 1]
    if not spectra:
        dims = signals[0].axes_manager.signal_dimension if signals else 0
        raise InputError(f"{path}: holds no 1D spectrum (signal dimension {dims}: an image?); "
                         "export the EELS spectrum or spectrum image")
    sig = spectra[0]
    warnings = []
    stored = str(sig.metadata.get_item("Signal.signal_type", "") or "")
    marker = str(sig.metadata.get_item("exelfs.kind", "") or "")
    kind = "xas" if marker == "xas" or stored.lower() in XAS_TYPES else "eels"
    if kind == "eels":
        if stored and stored.upper() != "EELS":
            warnings.append(f"the file calls its signal '{stored}'; read as EELS")
        try:
            sig.set_signal_type("EELS")
        except Exception:  # noqa: BLE001 - the type only adds EELS methods; the numbers are what we need
            pass
    if len(signals) > 1:
        warnings.append(f"the file holds {len(signals)} signals; used the first spectrum "
                        f"('{sig.metadata.General.title}')")
    axis = sig.axes_manager.signal_axes[0]
    units = str(axis.units or "").strip()
    try:
        spectrum = Spectrum.from_hyperspy(sig)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: the spectrum in this file cannot be used "
                         f"({type(exc).__name__}: {exc})") from None
    energy = np.asarray(axis.axis, dtype=float)  # raw axis: units handled in validate.fix_axis
    nav = [{"name": str(a.name), "size": int(a.size), "offset": float(getattr(a, "offset", 0.0) or 0.0),
            "scale": float(getattr(a, "scale", 1.0) or 1.0), "units": str(a.units)}
           for a in sig.axes_manager.navigation_axes]
    metadata = {"format": Path(path).suffix.lower().lstrip("."), "title": spectrum.title}
    if nav:
        # HyperSpy lists navigation axes x first; data shape is (..., y, x): keep HyperSpy's order here
        metadata["navigation_axes"] = nav
    acquisition = {"beam_energy_kev": spectrum.beam_energy_kev, "convergence_mrad": spectrum.convergence_mrad,
                   "collection_mrad": spectrum.collection_mrad}
    return {"energy": energy, "intensity": spectrum.intensity, "units": units, "acquisition": acquisition,
            "metadata": metadata, "warnings": warnings, "title": spectrum.title, "kind": kind}


def read_eels_columns(path: Path, text: str | None = None, table=None) -> dict:
    """Plain text/CSV: first column energy, second counts (comment/label lines allowed before the
    numbers). A single column has no energy axis and is refused."""
    warnings = []
    if table is None:
        text = read_text(path, warnings) if text is None else text
        table = parse_columns(text, path)
    data, header, labels = table
    if data.shape[1] < 2:
        raise InputError(f"{path}: a single column of numbers has no energy axis; write two columns "
                         "(energy in eV, counts) or save as EMSA with #OFFSET and #XPERCHAN")
    if data.shape[1] > 2:
        warnings.append(f"the file has {data.shape[1]} columns: used the first as energy and the second "
                        "as counts")
    head = " ".join(header).lower()
    units = "keV" if re.search(r"\bkev\b", head) else ("eV" if re.search(r"\bev\b", head) else "")
    metadata = {"format": "text", "column_labels": labels}
    return {"energy": data[:, 0], "intensity": data[:, 1], "units": units, "acquisition": {},
            "metadata": metadata, "warnings": warnings, "title": Path(path).stem}
