"""``read_spectrum(path)``: one entry point for every supported file, robust to real-file quirks.

EELS: .msa/.emsa (EMSA, EELS Data Base text), .dm3/.dm4/.hspy/.hdf5/.h5/.emd (RosettaSciIO via
HyperSpy), .txt/.csv/.tsv/.dat two-column text. X-ray absorption (Larch): .xdi, .prj (Athena), .xmu and
.dat/.txt column files whose columns are named like XAS data, .chi (chi(k) -> ChiData).

What a reader repairs is listed in ``metadata['warnings']``; what cannot be used raises InputError with
one sentence. Input files are only ever opened for reading.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..spectrum import ChiData, Spectrum
from . import eels, validate, xas
from .text import parse_columns, read_text

EELS_TEXT = {".msa", ".emsa", ".ems"}
HYPERSPY = {".dm3", ".dm4", ".hspy", ".hdf5", ".h5", ".emd", ".zspy"}
COLUMNS = {".txt", ".csv", ".tsv", ".dat", ".asc"}
XAS_TEXT = {".xmu", ".nor"}
SUFFIXES = sorted(EELS_TEXT | HYPERSPY | COLUMNS | XAS_TEXT | {".xdi", ".prj", ".chi", ".chik"})

XAS_MIN_EV = 3000.0  # unnamed two-column text whose energies start above this is taken as X-ray data


def read_spectrum(path, group: str | None = None) -> Spectrum | ChiData:
    """Read an EELS spectrum / spectrum image (energy loss, eV), an X-ray absorption mu(E) (photon
    energy, eV; ``kind='xas'``) or a chi(k) file (k in 1/angstrom -> :class:`ChiData`).
    group: the data group of an Athena project (.prj) by name; the first when None."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InputError(f"read_spectrum needs a file path, not {str(path)[:40]!r}")
    path = Path(path)
    try:
        suffix = _check_file(path)
        if group is not None:
            if suffix != ".prj":
                raise InputError(f"{path}: only Athena projects (.prj) hold named groups")
            spectrum = _finish(path, xas.read_prj(path, group=group), "xas")
            spectrum.source = f"{spectrum.source}#{group}"
            return spectrum
        return _read(path, suffix)
    except InputError:
        raise
    except (OSError, MemoryError) as exc:
        why = getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}"
        raise InputError(f"{_short(path)}: cannot be read ({why})") from None


def _check_file(path: Path) -> str:
    """The file's lower-case suffix once it is known to be a non-empty file of a supported type."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a spectrum file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if suffix == ".gz":
        raise InputError(f"{path}: compressed file; decompress it first (gunzip)")
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: unknown file type '{suffix or '(no extension)'}'; supported: "
                         f"{' '.join(SUFFIXES)}")
    return suffix


def _short(path: Path) -> str:
    """The path as a message shows it: very long names are elided in the middle."""
    text = str(path)
    return text if len(text) <= 120 else f"{text[:60]}...{text[-40:]}"


def _read(path: Path, suffix: str):
    if suffix == ".chi" or suffix == ".chik":
        return _finish_chi(path, xas.read_chi(path))
    if suffix == ".xdi":
        return _finish(path, xas.read_xdi(path), "xas")
    if suffix == ".prj":
        return _finish(path, xas.read_prj(path), "xas")
    if suffix in XAS_TEXT:
        return _finish(path, xas.read_xas_columns(path), "xas")
    if suffix in EELS_TEXT:
        return _finish(path, eels.read_msa(path), "eels")
    if suffix in HYPERSPY:
        _check_binary_start(path, suffix)
        raw = eels.read_hyperspy(path)
        return _finish(path, raw, raw.get("kind", "eels"))
    return _read_columns(path)


def _read_columns(path: Path) -> Spectrum:
    """Generic column text: EELS unless the column names or energies say X-ray absorption."""
    notes: list[str] = []
    text = read_text(path, notes)
    if text.lstrip().startswith("#XDI") or text.lstrip().startswith("# XDI"):
        return _finish(path, xas.read_xdi(path), "xas")
    table = parse_columns(text, path)
    data, _, labels = table
    named_xas = bool(set(labels) & (xas.XAS_LABELS - {"energy"}))
    if named_xas or (data.shape[1] >= 2 and np.nanmin(data[:, 0]) >= XAS_MIN_EV):
        raw = xas.read_xas_columns(path, table=table, text=text)
        if not named_xas:
            raw["warnings"].append(f"read as X-ray absorption: unnamed columns with energies from "
                                   f"{np.nanmin(data[:, 0]):g} eV")
        kind = "xas"
    else:
        raw, kind = eels.read_eels_columns(path, table=table), "eels"
    raw["warnings"] = notes + raw["warnings"]
    return _finish(path, raw, kind)


def _check_binary_start(path: Path, suffix: str):
    """Recognise text or a gzip stream given a binary EELS extension (clearer than the library's error)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if suffix in {".hspy", ".hdf5", ".h5", ".emd"} and not head.startswith(b"\x89HDF\r\n\x1a\n"):
        raise InputError(f"{path}: not an HDF5 file (the {suffix} extension promises HDF5); the file is "
                         "damaged or mislabelled")
    if suffix in {".dm3", ".dm4"}:
        version = int.from_bytes(head[:4], "big") if len(head) >= 4 else -1
        if version not in (3, 4):
            raise InputError(f"{path}: not a Gatan DigitalMicrograph file (no DM3/DM4 signature); the file "
                             "is damaged or mislabelled")


def _finish(path: Path, raw: dict, kind: str) -> Spectrum:
    """Shared checks and repairs, then the Spectrum."""
    name = str(path)
    warnings = list(raw.get("warnings", []))
    metadata = dict(raw.get("metadata", {}))
    intensity = np.asarray(raw["intensity"], dtype=float)
    energy = np.asarray(raw["energy"], dtype=float)
    if energy.ndim != 1 or intensity.shape[-1:] != energy.shape:
        raise InputError(f"{name}: the energy axis ({energy.size} values) and the intensities "
                         f"({intensity.shape[-1] if intensity.ndim else 0} channels) do not match")
    validate.check_finite(intensity, name)
    validate.check_enough(energy, name)
    energy, intensity = validate.fix_axis(energy, intensity, raw.get("units"), name, warnings,
                                          duplicates="average" if kind == "xas" else "refuse")
    if kind == "eels":
        energy, intensity = validate.clean_eels(energy, intensity, name, warnings, metadata)
    else:
        energy, intensity = validate.clean_xas(energy, intensity, name, warnings)
    metadata["warnings"] = warnings
    acq = raw.get("acquisition", {}) or {}
    return Spectrum(energy=energy, intensity=intensity, kind=kind, source=name,
                    title=str(raw.get("title") or path.stem),
                    beam_energy_kev=_num(acq.get("beam_energy_kev")),
                    convergence_mrad=_num(acq.get("convergence_mrad")),
                    collection_mrad=_num(acq.get("collection_mrad")), metadata=metadata)


def _finish_chi(path: Path, raw: dict) -> ChiData:
    name = str(path)
    k, chi = np.asarray(raw["k"], float), np.asarray(raw["chi"], float)
    validate.check_finite(k, name, "k values")
    validate.check_finite(chi, name, "chi(k) values")
    validate.check_enough(k, name, "k points")
    if np.any(np.diff(k) <= 0):
        if np.all(np.diff(k) < 0):
            k, chi = k[::-1].copy(), chi[::-1].copy()
            raw["warnings"].append("k axis was descending: reversed")
        else:
            raise InputError(f"{name}: the k column is not strictly increasing; this is not a chi(k) file "
                             "or it is damaged")
    validate.check_not_flat(chi, name)
    metadata = dict(raw.get("metadata", {}))
    metadata["warnings"] = list(raw.get("warnings", []))
    return ChiData(k=k, chi=chi, source=name, metadata=metadata)


def _num(v):
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None
