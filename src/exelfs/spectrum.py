"""Core data types: an energy-loss or absorption spectrum (energy in eV) and a chi(k) data set."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError


@dataclass
class Spectrum:
    """A spectrum or spectrum image on an ascending energy axis.

    energy: (n,) energy loss (EELS) or photon energy (X-ray), eV, strictly ascending.
    intensity: navigation shape + (n,), counts (EELS) or mu(E) (X-ray, ``kind='xas'``).
    kind: ``'eels'`` or ``'xas'``.
    beam_energy_kev, convergence_mrad, collection_mrad: acquisition parameters, None where unknown.
    metadata: anything else read from the file (e.g. ``element``/``edge`` from an XDI header).
    """

    energy: np.ndarray
    intensity: np.ndarray
    kind: str = "eels"
    source: str | None = None
    title: str = ""
    beam_energy_kev: float | None = None
    convergence_mrad: float | None = None
    collection_mrad: float | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self.energy = np.asarray(self.energy, dtype=float)
        self.intensity = np.asarray(self.intensity, dtype=float)
        if self.energy.ndim != 1 or self.intensity.shape[-1:] != self.energy.shape:
            raise InputError(
                f"energy axis ({self.energy.shape}) and intensities ({self.intensity.shape}) do not match"
            )

    @property
    def nav_shape(self) -> tuple:
        """Navigation shape: () for a single spectrum, (ny, nx) or (n,) for a spectrum image."""
        return self.intensity.shape[:-1]

    @property
    def channel_width(self) -> float:
        """Median channel width, eV."""
        return float(np.median(np.diff(self.energy)))

    def summed(self) -> "Spectrum":
        """The sum over all navigation positions (the spectrum itself when there are none)."""
        if not self.nav_shape:
            return self
        total = self.intensity.reshape(-1, self.energy.size).sum(axis=0)
        return self.with_intensity(total)

    def with_intensity(self, intensity, energy=None) -> "Spectrum":
        """A copy with new intensities (and optionally a new energy axis), same metadata."""
        return Spectrum(
            energy=self.energy if energy is None else energy,
            intensity=intensity,
            kind=self.kind,
            source=self.source,
            title=self.title,
            beam_energy_kev=self.beam_energy_kev,
            convergence_mrad=self.convergence_mrad,
            collection_mrad=self.collection_mrad,
            metadata=dict(self.metadata),
        )

    def crop(self, emin: float | None = None, emax: float | None = None) -> "Spectrum":
        """The channels with emin <= energy <= emax (eV)."""
        keep = np.ones(self.energy.size, bool)
        if emin is not None:
            keep &= self.energy >= emin
        if emax is not None:
            keep &= self.energy <= emax
        return self.with_intensity(self.intensity[..., keep], energy=self.energy[keep])

    def to_hyperspy(self):
        """An ``exspy`` EELSSpectrum (kind 'eels') or a plain Signal1D, with the energy axis in eV.

        A non-uniform energy axis becomes a non-uniform data axis."""
        import hyperspy.api as hs

        steps = np.diff(self.energy)
        uniform = np.allclose(steps, steps[0], rtol=1e-4, atol=1e-6)
        if uniform:
            axis = {"name": "Energy loss" if self.kind == "eels" else "Energy", "units": "eV",
                    "offset": float(self.energy[0]), "scale": float(steps[0]), "size": self.energy.size}
        else:
            axis = {"name": "Energy", "units": "eV", "axis": self.energy}
        # metadata['navigation_axes'] (from the reader) lists axes in HyperSpy order (x first), the
        # reverse of array order; without it, plain index axes.
        nav = [dict(a) for a in self.metadata.get("navigation_axes", [])][::-1]
        if [a.get("size") for a in nav] != list(self.nav_shape):
            nav = [{"size": n, "name": f"nav{i}"} for i, n in enumerate(self.nav_shape)]
        sig = hs.signals.Signal1D(self.intensity, axes=nav + [axis])
        if self.kind == "eels":
            sig.set_signal_type("EELS")
            if self.beam_energy_kev is not None:
                sig.metadata.set_item("Acquisition_instrument.TEM.beam_energy", self.beam_energy_kev)
            if self.convergence_mrad is not None:
                sig.metadata.set_item("Acquisition_instrument.TEM.convergence_angle", self.convergence_mrad)
            if self.collection_mrad is not None:
                sig.metadata.set_item(
                    "Acquisition_instrument.TEM.Detector.EELS.collection_angle", self.collection_mrad)
        sig.metadata.set_item("exelfs.kind", self.kind)
        sig.metadata.General.title = self.title or (self.source or "")
        if self.source:
            sig.metadata.set_item("General.original_filename", self.source)
        return sig

    @classmethod
    def from_hyperspy(cls, signal, kind: str | None = None) -> "Spectrum":
        """A Spectrum from a HyperSpy/exspy Signal1D (an ``EELSSpectrum`` straight from a notebook).

        kind: 'eels' or 'xas'; by default what exelfs stored in the signal's metadata, else 'eels'."""
        axis = signal.axes_manager.signal_axes[0]
        energy = np.asarray(axis.axis, dtype=float)
        units = str(axis.units or "eV").strip()
        if units.lower() == "kev":
            energy = energy * 1000.0
        data = np.asarray(signal.data, dtype=float)
        md = signal.metadata

        def get(path):
            return md.get_item(path) if md.has_item(path) else None

        nav_axes = [{"name": str(a.name), "units": str(a.units), "offset": float(a.offset),
                     "scale": float(a.scale), "size": int(a.size)}
                    for a in signal.axes_manager.navigation_axes]
        return cls(
            energy=energy,
            intensity=data,
            kind=kind or get("exelfs.kind") or "eels",
            metadata={"warnings": [], "navigation_axes": nav_axes} if nav_axes else {"warnings": []},
            source=get("General.original_filename"),
            title=str(get("General.title") or ""),
            beam_energy_kev=get("Acquisition_instrument.TEM.beam_energy"),
            convergence_mrad=get("Acquisition_instrument.TEM.convergence_angle"),
            collection_mrad=get("Acquisition_instrument.TEM.Detector.EELS.collection_angle"),
        )


@dataclass
class ChiData:
    """EXAFS/EXELFS oscillations already extracted: chi(k) on a k grid (1/angstrom)."""

    k: np.ndarray
    chi: np.ndarray
    source: str | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self.k = np.asarray(self.k, dtype=float)
        self.chi = np.asarray(self.chi, dtype=float)


def as_data(data):
    """A Spectrum or ChiData as given; a HyperSpy/exspy signal (an ``EELSSpectrum``, lazy or not) converted
    with :meth:`Spectrum.from_hyperspy`; anything else an InputError."""
    if isinstance(data, (Spectrum, ChiData)):
        return data
    if hasattr(data, "axes_manager") and hasattr(data, "data"):
        if getattr(data.axes_manager, "signal_dimension", 1) != 1:
            raise InputError("the HyperSpy signal is not one-dimensional in its signal axis: give a spectrum "
                             "or spectrum image (Signal1D / EELSSpectrum)")
        return Spectrum.from_hyperspy(data)
    raise InputError(f"expected a Spectrum, a ChiData or a HyperSpy signal, not {type(data).__name__}: read files "
                     "with exelfs.io.read_spectrum")
