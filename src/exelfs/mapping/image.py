"""A spectrum image as the maps see it: an energy axis (eV), the counts as a dask array (navigation axes
first, the energy axis in one chunk), the navigation axes as HyperSpy describes them, and optional binning.

HyperSpy lazy signals already hold dask arrays: they are read chunk by chunk and never loaded whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..spectrum import Spectrum

LAZY_SUFFIXES = {".dm3", ".dm4", ".hspy", ".hdf5", ".h5", ".emd", ".zspy"}


@dataclass
class Image:
    """energy (eV), data (dask array: navigation shape + (channels,)), nav_axes (HyperSpy order, x first:
    name, size, offset, scale, units), kind ('eels'), source (path or None), title, metadata (acquisition)."""

    energy: np.ndarray
    data: object
    nav_axes: list
    kind: str = "eels"
    source: str | None = None
    title: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def nav_shape(self) -> tuple:
        return tuple(self.data.shape[:-1])

    def summed(self) -> Spectrum:
        """The sum of all pixels as one Spectrum (one pass over the data)."""
        nav = tuple(range(len(self.nav_shape)))
        total = self.data.astype("float64").sum(axis=nav).compute()
        bad = ~np.isfinite(total)
        if bad.any():
            raise InputError(f"{self.source or self.title or 'the spectrum image'}: pixels hold NaN or infinite values "
                             f"in {int(bad.sum())} of the {total.size} channels; replace or remove those values and "
                             "try again")
        return Spectrum(self.energy, np.asarray(total, float), kind=self.kind, source=self.source,
                        title=self.title, **self.metadata)


class H5Array:
    """One dataset of an HDF5 (.hspy) file, opened at each read. Unlike an open h5py dataset (which HyperSpy's
    lazy signals hold) it can be pickled, so a dask graph built on it can go to dask.distributed workers."""

    def __init__(self, path: str, name: str):
        import h5py

        self.path, self.name = str(path), name
        with h5py.File(self.path, "r") as f:
            self.shape, self.dtype = f[name].shape, f[name].dtype
        self.ndim = len(self.shape)

    def __getitem__(self, index):
        import h5py

        with h5py.File(self.path, "r") as f:
            return f[self.name][index]


def _picklable_data(signal):
    """For a lazy signal read from an .hspy/.hdf5 file: the same data through an H5Array (None otherwise)."""
    import dask.array as da

    tp = signal.tmp_parameters
    if not (signal._lazy and tp.has_item("folder") and tp.has_item("filename") and tp.has_item("extension")):
        return None
    path = Path(tp.folder) / f"{tp.filename}{tp.extension}"
    if path.suffix.lower() not in {".hspy", ".hdf5", ".h5"} or not path.is_file():
        return None
    import h5py

    found = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset)
                     and name.endswith("/data") and obj.shape == signal.data.shape else None)
    if len(found) != 1:
        return None
    return da.from_array(H5Array(path, found[0]), chunks=signal.data.chunks, name=f"h5-{path}-{found[0]}")


def _nav_axes_of(signal) -> list:
    return [{"name": str(a.name), "size": int(a.size), "offset": float(getattr(a, "offset", 0.0) or 0.0),
             "scale": float(getattr(a, "scale", 1.0) or 1.0), "units": str(a.units)}
            for a in signal.axes_manager.navigation_axes]


def _from_signal(signal, source=None, distributed=False) -> Image:
    import dask.array as da

    if signal.axes_manager.signal_dimension != 1:
        raise InputError("the HyperSpy signal is not one-dimensional in its signal axis: give a spectrum image "
                         "(Signal1D / EELSSpectrum)")
    axis = signal.axes_manager.signal_axes[0]
    energy = np.asarray(axis.axis, float)
    if str(axis.units or "").strip().lower() == "kev":
        energy = energy * 1000.0
    data = signal.data if isinstance(signal.data, da.Array) else da.from_array(np.asarray(signal.data))
    reopened = _picklable_data(signal) if distributed else None
    data = data if reopened is None else reopened
    md = signal.metadata

    def get(path):
        return md.get_item(path) if md.has_item(path) else None

    acq = {"beam_energy_kev": get("Acquisition_instrument.TEM.beam_energy"),
           "collection_mrad": get("Acquisition_instrument.TEM.Detector.EELS.collection_angle"),
           "convergence_mrad": get("Acquisition_instrument.TEM.convergence_angle")}
    return Image(energy=energy, data=data, nav_axes=_nav_axes_of(signal), source=source or get(
        "General.original_filename"), title=str(get("General.title") or ""), metadata=acq)


def _from_spectrum(spectrum: Spectrum) -> Image:
    import dask.array as da

    nav = [dict(a) for a in spectrum.metadata.get("navigation_axes", [])]
    if [a.get("size") for a in nav][::-1] != list(spectrum.nav_shape):
        nav = [{"name": f"nav{i}", "size": n, "offset": 0.0, "scale": 1.0, "units": ""}
               for i, n in enumerate(spectrum.nav_shape[::-1])]
    acq = {"beam_energy_kev": spectrum.beam_energy_kev, "collection_mrad": spectrum.collection_mrad,
           "convergence_mrad": spectrum.convergence_mrad}
    return Image(energy=spectrum.energy, data=da.from_array(spectrum.intensity), nav_axes=nav, kind=spectrum.kind,
                 source=spectrum.source, title=spectrum.title, metadata=acq)


def load_image(data, what: str = "the input", single: bool = False, distributed: bool = False) -> Image:
    """An Image from a path (HyperSpy formats are opened lazily), a HyperSpy signal (lazy or not) or a
    Spectrum; ``distributed``: data that a dask.distributed cluster can read (HDF5 files reopened per
    chunk). InputError for X-ray data, a non-ascending energy axis or (unless ``single``) a single
    spectrum."""
    if isinstance(data, (str, Path)):
        path = Path(data)
        if path.suffix.lower() in LAZY_SUFFIXES and path.is_file():
            import hyperspy.api as hs

            from ..quiet import quiet

            try:
                with quiet(hyperspy=True):
                    loaded = hs.load(str(path), lazy=True)
            except Exception as exc:  # noqa: BLE001 - any reader failure is the file's problem
                raise InputError(f"{path}: could not be read ({type(exc).__name__}); the file may be damaged") from None
            signals = [s for s in (loaded if isinstance(loaded, list) else [loaded])
                       if s.axes_manager.signal_dimension == 1]
            if not signals:
                raise InputError(f"{path}: holds no spectrum image (no one-dimensional signal)")
            image = _from_signal(signals[0], source=str(path), distributed=distributed)
        else:
            from ..io import read_spectrum

            spectrum = read_spectrum(path)
            if not isinstance(spectrum, Spectrum):
                raise InputError(f"{path}: holds chi(k) data, not a spectrum: maps need EELS spectra")
            image = _from_spectrum(spectrum)
            image.source = str(path)
    elif isinstance(data, Spectrum):
        image = _from_spectrum(data)
    elif hasattr(data, "axes_manager") and hasattr(data, "data"):
        image = _from_signal(data, distributed=distributed)
    else:
        raise InputError(f"{what} must be a spectrum image (a path, a HyperSpy signal or a Spectrum), "
                         f"not {type(data).__name__}")
    if not image.nav_shape and not single:
        raise InputError(f"{what} is a single spectrum, not a spectrum image: use 'exelfs analyze' for one spectrum")
    if image.kind != "eels":
        raise InputError(f"{what} holds X-ray absorption data: maps are made from EELS spectrum images")
    if image.energy.size < 20 or np.any(np.diff(image.energy) <= 0):
        raise InputError(f"{what} needs an ascending energy axis of at least 20 channels")
    return image


def parse_bin(text, ndim: int) -> tuple | None:
    """Binning factors in array order from '2x2' (HyperSpy order: x first) or '4' (every axis); None for
    no binning. InputError for anything else."""
    if text is None or str(text).strip() in ("", "1", "1x1"):
        return None
    parts = str(text).lower().replace("*", "x").split("x")
    try:
        factors = [int(p) for p in parts]
    except ValueError:
        raise InputError(f"--bin '{text}' is not a binning such as 2x2 or 4") from None
    if len(factors) == 1:
        factors *= ndim
    if len(factors) != ndim or min(factors) < 1:
        raise InputError(f"--bin '{text}' needs {ndim} positive factor(s) for this image ({ndim} navigation "
                         "axis/axes), e.g. 2x2")
    return tuple(factors[::-1])


def bin_image(image: Image, factors: tuple | None) -> Image:
    """The image with its pixels summed in blocks of ``factors`` (array order); incomplete edge blocks are
    dropped. Navigation scales grow by the factor and offsets move to the block centres."""
    if factors is None:
        return image
    import dask.array as da

    if any(f > n for f, n in zip(factors, image.nav_shape)):
        raise InputError(f"binning {factors[::-1]} is larger than the image {image.nav_shape[::-1]}")
    data = image.data
    nav = len(factors)
    chunks = tuple(max(f, (c // f) * f) for f, c in zip(factors, (c[0] for c in data.chunks[:nav])))
    data = data.rechunk(chunks + (-1,))
    binned = da.coarsen(np.sum, data, {i: f for i, f in enumerate(factors)}, trim_excess=True)
    axes = []
    for a, f in zip(image.nav_axes, factors[::-1]):
        axes.append({**a, "size": a["size"] // f, "scale": a["scale"] * f,
                     "offset": a["offset"] + 0.5 * (f - 1) * a["scale"]})
    return Image(energy=image.energy, data=binned, nav_axes=axes, kind=image.kind, source=image.source,
                 title=image.title, metadata=image.metadata)
