"""X-ray absorption readers through Larch: XDI, Athena projects, .xmu/.dat column files, chi(k) files.

Larch's readers are lenient (``read_ascii`` turns a line of text into column labels and keeps going), so
every text file first passes :func:`exelfs.io.text.parse_columns`, which names the first bad line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from .text import library_copy, parse_columns, read_text

# column names that mean mu(E) itself, in order of preference
MU_LABELS = ("mu", "xmu", "mutrans", "mu_trans", "mufluor", "mu_fluor", "normtrans", "normfluor", "norm",
             "flat", "murefer")
I0_LABELS = ("i0", "io", "imon", "monitor")
ITRANS_LABELS = ("itrans", "it", "i1", "itr", "trans")
IFLUOR_LABELS = ("ifluor", "if", "ifl", "fluor", "ifluo")
XAS_LABELS = set(MU_LABELS + I0_LABELS + ITRANS_LABELS + IFLUOR_LABELS + ("energy",))


def _first(labels, choices):
    for c in choices:
        if c in labels:
            return labels.index(c)
    return None


def mu_from_columns(labels: list[str], columns: list[np.ndarray], name) -> tuple[np.ndarray, str]:
    """mu(E) from named columns: a mu column if present, else ln(i0/itrans) (transmission), else
    ifluor/i0 (fluorescence). Returns (mu, how)."""
    labels = [str(label).lower() for label in labels]
    i = _first(labels, MU_LABELS)
    if i is not None:
        return columns[i], labels[i]
    i0 = _first(labels, I0_LABELS)
    it = _first(labels, ITRANS_LABELS)
    if i0 is not None and it is not None:
        ratio = columns[i0] / columns[it]
        if np.any(~np.isfinite(ratio)) or np.any(ratio <= 0):
            raise InputError(f"{name}: i0/itrans is zero, negative or infinite at some energies, so "
                             "ln(i0/itrans) is undefined; check the detector columns")
        return np.log(ratio), f"ln({labels[i0]}/{labels[it]})"
    ifl = _first(labels, IFLUOR_LABELS)
    if i0 is not None and ifl is not None:
        if np.any(columns[i0] == 0):
            raise InputError(f"{name}: i0 is zero at some energies, so ifluor/i0 is undefined")
        return columns[ifl] / columns[i0], f"{labels[ifl]}/{labels[i0]}"
    raise InputError(f"{name}: cannot tell which column is mu(E) (columns: {', '.join(labels) or 'unnamed'}); "
                     "name the columns mu, or i0 and itrans, or i0 and ifluor")


def _float(text) -> float | None:
    if text is None:
        return None
    m = re.search(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?", str(text))
    return float(m.group(0)) if m else None


def read_xdi(path: Path) -> dict:
    """XDI file: mu(E) from mutrans/mufluor, or ln(i0/itrans), or ifluor/i0; element/edge/e0 from header."""
    from larch.io import read_xdi as larch_read_xdi

    notes: list[str] = []
    text = read_text(path, notes)
    parse_columns(text, path)  # names the first damaged line before Larch sees the file
    try:
        with library_copy(path, text) as readable:
            g = larch_read_xdi(str(readable))
    except Exception as exc:  # noqa: BLE001 - Larch raises ValueError/OSError with multi-line messages
        first = " ".join(str(exc).split())[:150]
        raise InputError(f"{path}: not a valid XDI file ({first})") from None
    labels = [str(x) for x in g.array_labels]
    columns = [np.asarray(getattr(g, label, g.data[i]), dtype=float) for i, label in enumerate(labels)]
    energy = np.asarray(g.energy if hasattr(g, "energy") else columns[0], dtype=float)
    mu, how = mu_from_columns(labels[1:], columns[1:], path)
    attrs = getattr(g, "attrs", {}) or {}
    units = ""
    col1 = str(attrs.get("column", {}).get("1", ""))
    if "kev" in col1.lower().split():
        units = "keV"
    elif "ev" in col1.lower().split():
        units = "eV"
    e0 = _float(attrs.get("scan", {}).get("edge_energy")) or _float(attrs.get("scanparameters", {}).get("e0"))
    metadata = {"format": "xdi", "mu_from": how, "columns": labels}
    element = attrs.get("element", {}).get("symbol") or getattr(g, "element", None)
    edge = attrs.get("element", {}).get("edge") or getattr(g, "edge", None)
    if element:
        metadata["element"] = _clean(element)
    if edge:
        metadata["edge"] = _clean(edge)
    if e0:
        metadata["e0"] = e0
    sample = attrs.get("sample", {})
    title = sample.get("name") or Path(path).stem
    if sample.get("temperature"):
        metadata["temperature"] = sample["temperature"]
    return {"energy": energy, "intensity": mu, "units": units, "metadata": metadata, "warnings": notes,
            "title": str(title)}


def _clean(v) -> str:
    if isinstance(v, bytes):
        v = v.decode(errors="replace")
    return str(v).strip()


def read_prj(path: Path, group: str | None = None) -> dict:
    """Athena project: one group's mu(E) (``group``, by name; the first when None); all group names in
    metadata['groups']."""
    from larch.io import read_athena

    raw = Path(path).read_bytes()
    if not raw.strip():
        raise InputError(f"{path}: the file is empty")
    try:
        project = read_athena(str(path), do_preedge=False, do_bkg=False, do_fft=False)
    except Exception as exc:  # noqa: BLE001
        first = " ".join(str(exc).split())[:150]
        raise InputError(f"{path}: not a readable Athena project ({first})") from None
    groups = getattr(project, "groups", None) or {}
    names = list(groups)
    if not names:
        raise InputError(f"{path}: the Athena project holds no data groups")
    if group is not None and group not in names:
        raise InputError(f"{path}: the Athena project has no group '{group}' (it holds {', '.join(names)})")
    name = names[0] if group is None else group
    g = groups[name]
    if not hasattr(g, "energy") or not hasattr(g, "mu"):
        raise InputError(f"{path}: the Athena group '{name}' holds no mu(E) (energy, mu)")
    metadata = {"format": "athena", "groups": names, "group": name}
    # Athena's own settings (bkg_z, fft_edge, bkg_e0) as Larch parses them into athena_params
    params = getattr(g, "athena_params", None)
    bkg, fft = getattr(params, "bkg", None), getattr(params, "fft", None)
    element = getattr(g, "atsym", None) or getattr(bkg, "z", None)
    edge = getattr(g, "edge", None) or getattr(fft, "edge", None)
    e0 = getattr(g, "e0", None) or getattr(bkg, "e0", None)
    if element:
        metadata["element"] = _clean(element)
    if edge:
        metadata["edge"] = _clean(edge)
    if e0:
        metadata["e0"] = float(e0)
    warnings = []
    if len(names) > 1 and group is None:
        warnings.append(f"the Athena project holds {len(names)} groups ({', '.join(names)}); "
                        f"used the first, '{names[0]}'")
    return {"energy": np.asarray(g.energy, float), "intensity": np.asarray(g.mu, float), "units": "eV",
            "metadata": metadata, "warnings": warnings, "title": str(getattr(g, "label", name))}


def read_xas_columns(path: Path, table=None, text: str | None = None) -> dict:
    """.xmu/.dat column files through Larch's read_ascii: energy is the column named energy (else the
    first); mu(E) as in :func:`mu_from_columns`, or the second column of a two-column file.
    table, text: the file's parsed table and (repaired) text when the caller has them."""
    from larch.io import read_ascii

    warnings: list[str] = []
    if table is None or text is None:
        text = read_text(path, warnings)
        table = parse_columns(text, path)
    data, header, _ = table
    try:
        with library_copy(path, text) as readable:
            g = read_ascii(str(readable))
    except Exception as exc:  # noqa: BLE001
        first = " ".join(str(exc).split())[:150]
        raise InputError(f"{path}: could not read the columns ({first})") from None
    labels = [str(x).lower() for x in g.array_labels]
    columns = [np.asarray(c, float) for c in g.data]
    if len(columns) < 2:
        raise InputError(f"{path}: a single column of numbers has no energy axis; write energy (eV) "
                         "and mu(E) columns")
    ie = next((i for i, label in enumerate(labels)
               if label.startswith(("energ", "e_")) or label == "e"), 0)
    rest_labels = [label for i, label in enumerate(labels) if i != ie]
    rest = [c for i, c in enumerate(columns) if i != ie]
    try:
        mu, how = mu_from_columns(rest_labels, rest, path)
    except InputError:
        if len(columns) != 2:
            raise
        mu, how = rest[0], rest_labels[0]
        warnings.append(f"column '{how}' taken as mu(E) (two unnamed columns: energy, mu)")
    head = " ".join(header).lower()
    units = "keV" if re.search(r"\bkev\b", head) else ""
    metadata = {"format": "columns", "mu_from": how, "columns": labels}
    m = re.search(r"\be0\s*[=:]\s*([-+]?\d+\.?\d*)", head)
    if m:
        metadata["e0"] = float(m.group(1))
    return {"energy": columns[ie], "intensity": mu, "units": units, "metadata": metadata,
            "warnings": warnings, "title": Path(path).stem}


def read_chi(path: Path) -> dict:
    """chi(k) file: first column k (1/angstrom), second chi(k)."""
    from larch.io import read_ascii

    notes: list[str] = []
    text = read_text(path, notes)
    data, header, _ = parse_columns(text, path)
    if data.shape[1] < 2:
        raise InputError(f"{path}: a chi(k) file needs two columns, k (1/angstrom) and chi(k)")
    try:
        with library_copy(path, text) as readable:
            g = read_ascii(str(readable))
        k, chi = np.asarray(g.data[0], float), np.asarray(g.data[1], float)
    except Exception:  # noqa: BLE001 - our own parse already holds the numbers
        k, chi = data[:, 0], data[:, 1]
    metadata = {"format": "chi", "header": header}
    # several e0 may appear (nominal scan e0, then the one the extraction used, on the line that also
    # gives the pre-edge range / edge step): prefer the latter
    found = []
    for line in header:
        m = re.search(r"\be0\s*[=:]\s*([-+]?\d+\.?\d*)", line.lower())
        if m:
            found.append((("pre-edge" in line.lower()) or ("edge step" in line.lower()), float(m.group(1))))
    if found:
        metadata["e0"] = max(found, key=lambda f: f[0])[1]
    return {"k": k, "chi": chi, "metadata": metadata, "warnings": notes}
