"""What the GUI does on a session, apart from Dash: load a file, pick a pixel, rank a clicked edge,
propose and build the structure, run the analysis with every chosen method and zip the report. Each
step calls the same functions as the command line (io, edges, structure, pipeline); bad input raises
``InputError`` with one sentence, which the page shows. Energies in eV, distances in angstrom."""

from __future__ import annotations

import base64
import binascii
import functools
import shutil
import threading
import time

import numpy as np

from ..errors import InputError
from ..quiet import quiet
from ..spectrum import ChiData, Spectrum
from .state import Session

ANALYSIS_LOCK = threading.Lock()   # one analysis at a time (2 cores; Larch keeps global state)
STRUCTURE_RMAX = 6.0               # angstrom: shells listed next to the 3D view
EXAMPLE = "generated example (MgO)"


def decode_upload(contents: str, filename: str, limit_bytes: int) -> bytes:
    """The bytes of a dcc.Upload data URL, checked against the size limit."""
    if not isinstance(contents, str) or "," not in contents:
        raise InputError(f"{filename}: the upload did not arrive as a file: try again")
    try:
        raw = base64.b64decode(contents.split(",", 1)[1], validate=False)
    except (binascii.Error, ValueError):
        raise InputError(f"{filename}: the upload is damaged (not base64): try again") from None
    check_size(filename, len(raw), limit_bytes)
    if not raw:
        raise InputError(f"{filename}: the file is empty")
    return raw


def check_size(filename: str, size: int, limit_bytes: int) -> None:
    if size > limit_bytes:
        raise InputError(f"{filename} is {size / 1e6:.1f} MB, over the upload limit of {limit_bytes / 1e6:g} MB: "
                         "crop or bin it, or start 'exelfs gui --max-upload-mb N' with a larger limit")


def _read(session: Session, filename: str, raw: bytes, stem: str):
    """Write the upload into the session folder and read it; a reader's sentence names the file as the
    user knows it (a file that cannot be read is removed again)."""
    from ..io import read_spectrum

    path = session.path(f"{stem}-{filename}")
    path.write_bytes(raw)
    try:
        with quiet(hyperspy=True):
            return read_spectrum(path)
    except InputError as exc:
        path.unlink(missing_ok=True)
        text = str(exc).replace(str(path), filename).replace(str(session.folder), "the session folder")
        raise InputError(text if filename in text else f"{filename}: {text}") from None


def _clear_uploads(session: Session, stem: str):
    for old in session.folder.glob(f"{stem}-*"):
        old.unlink(missing_ok=True)


def load_file(session: Session, filename: str, raw: bytes) -> str:
    """Read an uploaded spectrum into the session; the message describes it and the edges found."""
    _clear_uploads(session, "data")
    data = _read(session, filename, raw, "data")
    session.reset(data, filename)
    if session.lowloss_name == EXAMPLE:      # the example's low-loss does not belong to another file
        session.lowloss, session.lowloss_name = None, ""
    return describe(session)


def load_lowloss(session: Session, filename: str, raw: bytes) -> str:
    """Read an uploaded EELS low-loss spectrum (used by the analysis for Fourier-ratio deconvolution)."""
    _clear_uploads(session, "lowloss")
    low = _read(session, filename, raw, "lowloss")
    if not isinstance(low, Spectrum) or low.kind != "eels":
        raise InputError(f"low-loss {filename}: not an EELS spectrum")
    session.lowloss, session.lowloss_name = low.summed(), filename
    session.results = {}
    return f"low-loss {filename}: {low.energy[0]:.0f} to {low.energy[-1]:.0f} eV, used for deconvolution"


@functools.lru_cache(maxsize=1)
def example():
    """The generated example (core-loss Spectrum, low-loss Spectrum, truth), made once per process (it is
    deterministic and takes seconds)."""
    from ..demo import make_example

    return make_example()


def load_example(session: Session) -> str:
    """The generated example (MgO, Mg K and O K edges, with its low-loss spectrum) and its known answer."""
    core, low, truth = example()
    session.reset(core, EXAMPLE)
    session.lowloss, session.lowloss_name = low, EXAMPLE
    known = ", ".join(f"{t['scatterer']} at {t['r']:.3f} A (N {t['n']}, sigma2 {t['sigma2']:.4f})" for t in truth)
    return describe(session) + f"\nknown answer (Mg K): {known}"


def _image_cube(image: Spectrum) -> np.ndarray:
    """A spectrum image's intensities as (ny, nx, channels); a line scan is one row."""
    nav = image.nav_shape
    return image.intensity.reshape((1 if len(nav) == 1 else nav[0], -1, image.energy.size))


def active(session: Session):
    """The spectrum under analysis: the file, the chosen pixel or region of a spectrum image, or its sum."""
    data = session.data
    if data is None:
        raise InputError("load a spectrum first (upload a file or load the generated example)")
    if not isinstance(data, Spectrum) or not data.nav_shape:
        return data
    sel = session.selection
    cube = _image_cube(data)
    if sel is None:
        return data.summed()
    if sel[0] == "pixel":
        return data.with_intensity(cube[sel[1], sel[2]])
    y0, y1, x0, x1 = sel[1:]
    return data.with_intensity(cube[y0:y1 + 1, x0:x1 + 1].reshape(-1, data.energy.size).sum(axis=0))


def select(session: Session, selection: tuple | None) -> str:
    """Choose a pixel, a region (clipped to the image) or the sum (None) of a spectrum image."""
    data = session.data
    if not isinstance(data, Spectrum) or not data.nav_shape:
        raise InputError("pixels can only be chosen in a spectrum image")
    ny, nx = _image_cube(data).shape[:2]
    if selection is not None:
        kind, *idx = selection
        idx = [int(round(float(v))) for v in idx]
        if kind == "pixel":
            idx = [min(max(idx[0], 0), ny - 1), min(max(idx[1], 0), nx - 1)]
        else:
            y0, y1 = sorted((min(max(idx[0], 0), ny - 1), min(max(idx[1], 0), ny - 1)))
            x0, x1 = sorted((min(max(idx[2], 0), nx - 1), min(max(idx[3], 0), nx - 1)))
            idx = [y0, y1, x0, x1]
        selection = (kind, *idx)
    session.selection = selection
    session.reset_selection()
    return describe(session)


def selection_text(session: Session) -> str:
    sel = session.selection
    if sel is None:
        return "analysing the sum of all pixels"
    if sel[0] == "pixel":
        return f"analysing pixel x = {sel[2]}, y = {sel[1]}"
    return f"analysing the sum of x {sel[3]}-{sel[4]}, y {sel[1]}-{sel[2]}"


def describe(session: Session) -> str:
    """What was loaded and which edges were found (identify on the active spectrum)."""
    data = session.data
    if isinstance(data, ChiData):
        return (f"{session.filename}: chi(k) data, k {data.k.min():.1f} to {data.k.max():.1f} 1/A: give the edge "
                "and the structure (step 3), then run the analysis")
    spec = active(session)
    what = "EELS spectrum" if data.kind == "eels" else "X-ray absorption spectrum"
    if data.nav_shape:
        what = f"EELS spectrum image {' x '.join(str(n) for n in data.nav_shape)} ({selection_text(session)})"
    lines = [f"{session.filename}: {what}, {spec.energy[0]:.0f} to {spec.energy[-1]:.0f} eV, "
             f"{spec.energy.size} channels ({spec.channel_width:.3g} eV/channel)"]
    lines += [f"note: {w}" for w in data.metadata.get("warnings", [])]
    if session.lowloss is not None:
        lines.append(f"low-loss: {session.lowloss_name}, used for deconvolution")
    found = find_edges(session)
    edges = [f"{e['candidates'][0]['element']}_{e['candidates'][0]['edge']} at {e['onset_ev']:.0f} eV"
             for e in found["edges"] if e.get("candidates")]
    lines.append("edges found: " + ", ".join(edges) if edges else
                 "no edge found: click where you see one in the spectrum to rank candidates anyway")
    lines += [f"note: {w}" for w in found.get("warnings", []) if not w.startswith("no edge found")]
    return "\n".join(lines)


def find_edges(session: Session) -> dict:
    """identify() of the active spectrum, kept in the session."""
    from ..edges import identify

    if session.found is None:
        spec = active(session)
        if not isinstance(spec, Spectrum):
            session.found = {"edges": [], "warnings": []}
        else:
            with quiet():
                session.found = identify(spec)
    return session.found


def mark_edge(session: Session, energy_ev: float) -> dict:
    """The operator's edge at ``energy_ev``: candidates ranked by identify(at=[energy_ev])."""
    from ..edges import identify

    spec = active(session)
    if not isinstance(spec, Spectrum):
        raise InputError("chi(k) data have no edges to click: type the edge in step 3")
    with quiet():
        session.ranked = identify(spec, at=[float(energy_ev)])
    session.marked_ev = float(energy_ev)
    return session.ranked


def propose_structure(session: Session, edge: str) -> tuple[str, str]:
    """(structure spec, why) for an edge, as the pipeline proposes it (make_plan with no structure)."""
    from ..edges.tables import parse_edge
    from ..pipeline import make_plan

    element, _ = parse_edge(edge)
    try:
        with quiet():
            plan = make_plan(active(session), edge=edge)
    except InputError as exc:
        return element, f"{exc}; proposing the element {element} itself"
    return plan.structure, plan.choices.items["structure"]["reason"]


def structure_candidates(spec: str) -> list:
    """The candidate crystals of a spec (StructureCandidate, best first)."""
    from ..structure import propose

    with quiet():
        return propose(spec)


def build_structure(session: Session, spec: str, index: int, edge: str | None) -> dict:
    """The chosen candidate (``index`` into structure_candidates(spec)) around the edge's element:
    {"figure", "shells", "name", "source", "absorber"}; it becomes the structure of the analysis."""
    from ..edges.tables import parse_edge
    from ..structure import cluster_figure, shells
    from ..structure.report import choose_absorber

    cands = structure_candidates(spec)
    if not 0 <= index < len(cands):
        raise InputError(f"polymorph {index + 1} of {spec} does not exist: choose one from the list")
    cand = cands[index]
    with quiet():
        atoms = cand.atoms
        absorber = parse_edge(edge)[0] if edge else choose_absorber(cand)
        present = set(atoms.get_chemical_symbols())
        if absorber not in present:
            raise InputError(f"the absorber {absorber} is not in {cand.name} ({', '.join(sorted(present))}): "
                             "choose another structure or edge")
        figure = cluster_figure(atoms, absorber=absorber)
        found = shells(atoms, absorber, rmax=STRUCTURE_RMAX)
    session.structure = spec if index == 0 else atoms
    session.results = {}
    return {"figure": figure, "shells": found, "name": cand.name, "source": cand.source, "absorber": absorber}


def analyse(session: Session, edge: str | None, controls: dict, methods: list[str], rdf: bool = False) -> dict:
    """Plan once, then run every chosen method on the active spectrum: {method: Result or error sentence};
    with ``rdf`` the nn method's run also gives the partial RDF (``Result.rdf``, the pipeline's rdf=True).
    ``session.progress`` says what is being done."""
    from ..pipeline import Settings, make_plan, run

    if not methods:
        raise InputError("choose at least one method")
    if rdf and "nn" not in methods:
        raise InputError("the partial RDF comes with the nn method: tick nn as well, or untick the RDF")
    settings = Settings.from_kwargs(**controls)
    data = active(session)
    session.progress = "waiting for another analysis to finish"
    with ANALYSIS_LOCK, quiet(hyperspy=True):
        t0 = time.monotonic()
        session.progress = "planning: edge, structure and settings"
        plan = make_plan(data, edge=edge or None, structure=session.structure, settings=settings)
        session.progress = f"FEFF paths of {plan.structure} around {plan.element}"
        plan.paths
        results = {}
        for m in methods:
            with_rdf = rdf and m == "nn"
            session.progress = (f"background, E0, chi(k) and the {m} analysis" +
                                (" with the partial RDF (its network trains on first use: 1-2 min)" if with_rdf
                                 else ""))
            try:
                results[m] = run(plan, data, lowloss=session.lowloss, method=m, rdf=with_rdf)
            except InputError as exc:
                results[m] = str(exc)
    session.results = results
    session.progress = f"done in {time.monotonic() - t0:.1f} s"
    return results


def report_zip(session: Session):
    """Write the report of every method that gave a result (write_report: JSON, PNG, HTML, data, Larch
    script) and zip it; the path of the zip (inside the session folder)."""
    from ..pipeline.report import write_report

    done = {m: r for m, r in session.results.items() if not isinstance(r, str)}
    if not done:
        raise InputError("run the analysis first: there is no result to report")
    folder = session.folder / "report"
    shutil.rmtree(folder, ignore_errors=True)
    with quiet():
        for method, result in done.items():
            write_report(result, folder if len(done) == 1 else folder / method)
    return shutil.make_archive(str(session.folder / "exelfs-report"), "zip", root_dir=folder)
