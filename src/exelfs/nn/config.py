"""One training run, described by one TOML file: target (structure, edge, kind), parameter ranges,
artefacts, input mode, architecture, training and seed.

Units: R in angstrom, sigma2 in angstrom^2, E0 in eV, k in 1/angstrom; N and S0^2 are ratios.
Every key has a default; a file only needs what it changes. Unknown keys or bad values raise InputError.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import InputError

R_MODEL_MAX = 3.7   # A: shells up to this distance (and at most MAX_SHELLS) get their own R, N, sigma2
MAX_SHELLS = 3


@dataclass
class Ranges:
    """Priors of the structural parameters, drawn uniformly per training spectrum."""

    lattice: tuple = (-0.10, 0.10)  # relative expansion of every shell (R +-10 %)
    r_shell: tuple = (-0.05, 0.05)  # A: each modelled shell's own deviation on top of the expansion
    n_scale: tuple = (0.4, 1.6)     # N / N of the crystal
    sigma2: tuple = (0.001, 0.03)   # A^2
    s02: tuple = (0.6, 1.05)
    e0: tuple = (-10.0, 10.0)       # eV
    outer_lattice: tuple = (-0.03, 0.03)  # outer shells: expansion of the inner ones plus this (nuisance)


@dataclass
class Artefacts:
    """What real chi(k) carries besides the shells: noise, background residue, short k ranges, L2 copy."""

    noise: tuple = (1e-4, 0.1)      # rms noise of chi at k = 5 1/A (log-uniform)
    noise_k_power: tuple = (0.0, 1.5)  # noise grows as (k/5)^p
    background: tuple = (0.0, 0.5)  # smooth residue (R < 0.9 A), relative to the k^2 chi signal's rms
    kmin: tuple = (1.8, 3.5)        # 1/A
    kmax: tuple = (6.5, 14.0)       # 1/A (the input grid ends at 14)
    l2_weight: tuple = (0.4, 0.6)   # EELS L3 edges: weight of the L2 copy (shift from the edge tables)


@dataclass
class TrainConfig:
    """A whole training run. structure: element, formula or CIF path; edge: 'O_K'; kind: 'eels' or 'xas'
    ('chi' files use 'xas'); l2_shift_ev: L3-L2 spacing for EELS L3 edges (None: from the edge tables);
    input_mode: 'windowed' (Fourier-filtered to the modelled shells' R window), 'raw', or 'direct' (the
    power-law-subtracted edge signal, source 'eels' only); source: 'chi' (chi(k) with chi-level artefacts)
    or 'eels' (recorded EELS spectra from the forward model, read back by the extraction: exelfs.nn.chain);
    architecture: a name of exelfs.nn.models.ARCHITECTURES; arch: its options; samples, epochs, batch,
    lr, calibration_samples; seed."""

    structure: str = ""
    edge: str = ""
    kind: str = "eels"
    l2_shift_ev: float | None = None
    input_mode: str = "windowed"
    source: str = "chi"
    architecture: str = "ensemble_mlp"
    arch: dict = field(default_factory=dict)
    samples: int = 40000
    epochs: int = 20
    batch: int = 1024
    lr: float = 3e-3
    calibration_samples: int = 8000
    seed: int = 0
    ranges: Ranges = field(default_factory=Ranges)
    artefacts: Artefacts = field(default_factory=Artefacts)

    def to_dict(self) -> dict:
        d = json.loads(json.dumps(asdict(self)))
        if d["source"] == "chi":  # the default: recipes from before the key existed keep their names
            d.pop("source")
        return d

    def key(self, extra: str = "") -> str:
        """Hash of the recipe (and ``extra``, e.g. the FEFF paths): names the trained model."""
        text = json.dumps(self.to_dict(), sort_keys=True) + extra
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        top = {f.name for f in fields(cls)}
        bad = set(d) - top
        if bad:
            raise InputError(f"unknown training config key(s) {sorted(bad)}: known keys are {sorted(top)}")
        sub = {"ranges": Ranges, "artefacts": Artefacts}
        for name, kls in sub.items():
            val = d.get(name, {})
            if isinstance(val, kls):
                continue
            if not isinstance(val, dict):
                raise InputError(f"config section [{name}] must be a table of ranges")
            known = {f.name for f in fields(kls)}
            if set(val) - known:
                raise InputError(f"unknown key(s) {sorted(set(val) - known)} in [{name}]: known are {sorted(known)}")
            d[name] = kls(**{k: _range(v, f"{name}.{k}") for k, v in val.items()})
        cfg = cls(**d)
        cfg.validate()
        return cfg

    @classmethod
    def from_toml(cls, path, **overrides) -> "TrainConfig":
        """Read a TOML file; ``overrides`` (not None) replace its top-level values."""
        p = Path(path)
        if not p.is_file():
            raise InputError(f"training config {p} does not exist: give a TOML file")
        try:
            d = tomllib.loads(p.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"training config {p} is not valid TOML ({exc})") from None
        d.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(d)

    def validate(self) -> None:
        from ..edges.tables import normalize_edge

        if not self.structure or not self.edge:
            raise InputError("the training config needs a structure and an edge (e.g. structure = 'NiO', edge = 'O_K')")
        self.edge = normalize_edge(self.edge)
        self.kind = "xas" if self.kind == "chi" else self.kind
        if self.kind not in ("eels", "xas"):
            raise InputError(f"kind must be 'eels' or 'xas', not {self.kind!r}")
        if self.input_mode not in ("windowed", "raw", "direct"):
            raise InputError(f"input_mode must be 'windowed', 'raw' or 'direct', not {self.input_mode!r}")
        if self.source not in ("chi", "eels"):
            raise InputError(f"source must be 'chi' or 'eels', not {self.source!r}")
        if (self.input_mode == "direct" or self.source == "eels") and (self.source, self.kind) != ("eels", "eels"):
            raise InputError("input_mode 'direct' needs source = 'eels', and source 'eels' needs kind = 'eels'")
        from .models import ARCHITECTURES

        if self.architecture not in ARCHITECTURES:
            raise InputError(f"unknown architecture {self.architecture!r}: use one of {', '.join(ARCHITECTURES)}")
        for name, lo in (("samples", 500), ("epochs", 1), ("batch", 8), ("calibration_samples", 200)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise InputError(f"{name} must be a whole number of at least {lo}, not {v!r}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 10):
            raise InputError(f"lr must be a positive learning rate, not {self.lr!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise InputError(f"seed must be a whole number, not {self.seed!r}")
        a = self.artefacts
        if a.kmin[0] < 1.0 or a.kmax[1] > 14.0 or a.kmax[0] < a.kmin[1] + 2.0:
            raise InputError("artefacts.kmin/kmax must lie within 1-14 1/A and leave at least 2 1/A between them")
        if self.ranges.sigma2[0] < 0 or a.noise[0] <= 0:
            raise InputError("ranges.sigma2 must be non-negative and artefacts.noise positive")


def _range(v, what) -> tuple:
    if (not isinstance(v, (list, tuple)) or len(v) != 2
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) or v[0] > v[1]):
        raise InputError(f"{what} must be a range [lo, hi] of two numbers with lo <= hi, not {v!r}")
    return (float(v[0]), float(v[1]))
