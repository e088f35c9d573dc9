"""Seeded, reproducible synthetic data sets: chi(k), EELS or X-ray spectra with their true parameters.

``make_dataset(recipe, n, seed, out_path)`` draws n parameter sets from the recipe's ranges, computes
chi(k) for all of them at once (:func:`chi_from_paths`), optionally runs the EELS / X-ray forward model per
spectrum (kind 'eels-train': the batched EELS model with the training nuisances of
:func:`exelfs.simulate.batch.training_config`, all spectra at once), and writes HDF5 (``.h5``/``.hdf5``)
or ``.npz`` with the recipe (JSON) beside the arrays. The same recipe and seed always give identical arrays.

Stored arrays: ``k`` (K,), ``chi`` (n, K), ``params/<name>`` (n, S) per single-scattering shell
(``deltar``, ``sigma2``, ``nscale``, ``r`` = reff + deltar, ``n`` = degeneracy x nscale) and (n,) globals
(``s02``, ``e0``); for spectra ``energy`` and ``spectra`` (n, L) padded with NaN, ``length`` (n,) and
``truth`` (n,) JSON strings of the drawn artefact parameters. Attributes: ``recipe`` (JSON), ``seed``,
``n``, ``shells`` (JSON list of scatterer/reff/n).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from .batch import eels_batch, training_config
from .eels import EELSConfig, eels_spectrum
from ..theory.shells import group_shells
from .exafs import chi_from_paths, shell_to_path_params, standard_k
from .xas import XASConfig, xas_spectrum

FORMAT_VERSION = 1


@dataclass
class Recipe:
    """What to simulate. Ranges are (lo, hi) drawn uniformly per sample; numbers are fixed.

    structure, absorber, feff_edge, rmax: FEFF paths via exelfs.theory.feff_paths (angstrom).
    kind: 'chi' (chi(k) only), 'eels' (per-spectrum model, EELSConfig defaults), 'eels-train' (batched
    model, training_config() defaults: solid-state edges, near-edge nuisances; channel width one number)
    or 'xas'. n_shells: the first n single-scattering shells vary
    independently (None: all within rmax); the others follow the mean relative expansion.
    deltar (A), sigma2 (A^2), nscale (x degeneracy), third (A^3) per shell; s02, e0 (eV) global.
    eels / xas: overrides of :class:`EELSConfig` / :class:`XASConfig` fields.
    """

    structure: str = "Cu"
    absorber: str = "Cu"
    feff_edge: str = "K"
    rmax: float = 5.0
    kind: str = "chi"
    kmax: float = 16.0
    kstep: float = 0.05
    n_shells: int | None = None
    deltar: object = (-0.08, 0.08)
    sigma2: object = (0.002, 0.02)
    nscale: object = (0.7, 1.2)
    third: object = 0.0
    s02: object = (0.7, 1.0)
    e0: object = (-5.0, 5.0)
    float32: bool = True
    eels: dict = field(default_factory=dict)
    xas: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        bad = set(d) - set(cls.__dataclass_fields__)
        if bad:
            raise InputError(f"unknown recipe key(s) {sorted(bad)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)


def _draw_array(value, rng, shape):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InputError(f"a range must be (lo, hi), got {value}")
        return rng.uniform(float(value[0]), float(value[1]), size=shape)
    return np.full(shape, float(value))


def recipe_paths(recipe: Recipe):
    """The FEFF paths of a recipe (cached on disk by exelfs.theory)."""
    from ..theory import feff_paths

    return feff_paths(recipe.structure, recipe.absorber, edge=recipe.feff_edge, rmax=recipe.rmax)


def draw_parameters(recipe: Recipe, shells: list[dict], n: int, rng) -> dict:
    """Per-shell (n, S) and global (n,) parameters drawn from the recipe's ranges."""
    ns = len(shells)
    nvar = ns if recipe.n_shells is None else min(int(recipe.n_shells), ns)
    out = {}
    for key in ("deltar", "sigma2", "nscale", "third"):
        v = _draw_array(getattr(recipe, key), rng, (n, ns))
        if nvar < ns and key == "deltar":  # outer shells follow the mean relative expansion of the inner ones
            reff = np.array([s["reff"] for s in shells])
            alpha = np.mean(v[:, :nvar] / reff[:nvar], axis=1, keepdims=True)
            v[:, nvar:] = alpha * reff[nvar:]
        elif nvar < ns and key == "sigma2":
            v[:, nvar:] = np.maximum(v[:, nvar - 1:nvar], v[:, nvar:])
        elif nvar < ns and key == "nscale":
            v[:, nvar:] = 1.0
        out[key] = v
    out["s02"] = _draw_array(recipe.s02, rng, (n,))
    out["e0"] = _draw_array(recipe.e0, rng, (n,))
    return out


def simulate_batch(recipe: Recipe | dict, n: int, seed: int = 0, paths=None) -> dict:
    """Simulate n samples of a recipe in memory; returns the arrays :func:`make_dataset` writes."""
    recipe = recipe if isinstance(recipe, Recipe) else Recipe.from_dict(dict(recipe))
    if recipe.kind not in ("chi", "eels", "eels-train", "xas"):
        raise InputError(f"recipe kind must be 'chi', 'eels', 'eels-train' or 'xas', not '{recipe.kind}'")
    if int(n) < 1:
        raise InputError("n must be at least 1")
    n = int(n)
    paths = recipe_paths(recipe) if paths is None else paths
    shells = group_shells(paths)
    if not shells:
        raise InputError("the FEFF calculation gave no single-scattering shell: increase rmax")
    ss = np.random.SeedSequence(int(seed))
    rng_params, rng_spectra = (np.random.default_rng(s) for s in ss.spawn(2))
    pars = draw_parameters(recipe, shells, n, rng_params)
    k = standard_k(recipe.kmax, recipe.kstep)
    path_pars = shell_to_path_params(paths, pars, shells)
    chi = chi_from_paths(paths, k, path_pars, dtype=np.float32 if recipe.float32 else np.float64)
    reff = np.array([s["reff"] for s in shells])
    nn = np.array([s["n"] for s in shells])
    out = {"k": k, "chi": chi,
           "params": {**pars, "r": reff[None, :] + pars["deltar"], "n": nn[None, :] * pars["nscale"]},
           "shells": [{"scatterer": s["scatterer"], "reff": s["reff"], "n": s["n"]} for s in shells]}
    if recipe.kind == "chi":
        return out
    seeds = rng_spectra.integers(0, 2**63 - 1, size=n)
    spectra, truth = [], []
    kk = standard_k(max(recipe.kmax, 20.0), recipe.kstep)
    chi_full = chi_from_paths(paths, kk, path_pars, dtype=np.float64) if recipe.kmax < 20.0 else chi
    if recipe.kind == "eels-train":
        bad = set(recipe.eels) - set(EELSConfig.__dataclass_fields__)
        if bad:
            raise InputError(f"unknown EELS config key(s) {sorted(bad)}")
        cfg = training_config(**{key: (tuple(v) if isinstance(v, list) else v) for key, v in recipe.eels.items()})
        axis, counts, t = eels_batch(kk, chi_full, replace(cfg, lowloss=False), rng=rng_spectra)
        truth = [json.dumps({key: (v[i].tolist() if isinstance(v, np.ndarray) else v) for key, v in t.items()})
                 for i in range(n)]
        out.update(energy=np.tile(axis, (n, 1)), spectra=counts.astype(np.float64), truth=np.array(truth),
                   length=np.full(n, axis.size))
        return out
    if recipe.kind == "eels":
        cfg = EELSConfig.from_dict({**recipe.eels, "lowloss": False})
        for i in range(n):
            sp = eels_spectrum(kk, np.asarray(chi_full[i], float), cfg, seed=int(seeds[i]))
            spectra.append(sp)
    else:
        cfg = XASConfig.from_dict(recipe.xas)
        for i in range(n):
            spectra.append(xas_spectrum(kk, np.asarray(chi_full[i], float), cfg, seed=int(seeds[i])))
    lmax = max(s.energy.size for s in spectra)
    energy = np.full((n, lmax), np.nan)
    inten = np.full((n, lmax), np.nan)
    for i, s in enumerate(spectra):
        energy[i, : s.energy.size] = s.energy
        inten[i, : s.energy.size] = s.intensity
        truth.append(json.dumps(s.metadata["true"]))
    out.update(energy=energy, spectra=inten, length=np.array([s.energy.size for s in spectra]),
               truth=np.array(truth))
    return out


def make_dataset(recipe: Recipe | dict, n: int, seed: int = 0, out_path=None, paths=None) -> dict:
    """Simulate n samples and write them (HDF5 for .h5/.hdf5, else .npz) with the recipe; returns the arrays.

    The same recipe and seed always produce identical arrays (numpy SeedSequence, deterministic batching).
    """
    recipe = recipe if isinstance(recipe, Recipe) else Recipe.from_dict(dict(recipe))
    data = simulate_batch(recipe, n, seed, paths=paths)
    if out_path is None:
        return data
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    attrs = {"recipe": json.dumps(recipe.to_dict(), sort_keys=True), "seed": int(seed), "n": int(n),
             "shells": json.dumps(data["shells"]), "format_version": FORMAT_VERSION}
    if out_path.suffix.lower() in (".h5", ".hdf5"):
        import h5py

        with h5py.File(out_path, "w") as h5:
            for key, val in attrs.items():
                h5.attrs[key] = val
            for key, val in data.items():
                if key in ("params", "shells"):
                    continue
                if key == "truth":
                    h5.create_dataset(key, data=np.array(val, dtype=object), dtype=h5py.string_dtype())
                else:
                    h5.create_dataset(key, data=val, compression="gzip", compression_opts=1)
            grp = h5.create_group("params")
            for key, val in data["params"].items():
                grp.create_dataset(key, data=val)
    else:
        flat = {key: val for key, val in data.items() if key not in ("params", "shells")}
        flat.update({f"params/{k}": v for k, v in data["params"].items()})
        flat.update({f"attr/{k}": np.array(v) for k, v in attrs.items()})
        np.savez_compressed(out_path, **flat)
    return data


def load_dataset(path) -> dict:
    """Read a data set written by :func:`make_dataset` into a dict (arrays, 'params', 'recipe', 'seed')."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"data set {path} does not exist")
    out: dict = {"params": {}}
    if path.suffix.lower() in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as h5:
            for key in h5:
                if key == "params":
                    out["params"] = {k: h5["params"][k][()] for k in h5["params"]}
                elif key == "truth":
                    out[key] = np.array([s.decode() if isinstance(s, bytes) else s for s in h5[key][()]])
                else:
                    out[key] = h5[key][()]
            attrs = dict(h5.attrs)
    else:
        with np.load(path, allow_pickle=False) as z:
            attrs = {}
            for key in z.files:
                if key.startswith("params/"):
                    out["params"][key[7:]] = z[key]
                elif key.startswith("attr/"):
                    attrs[key[5:]] = z[key][()]
                else:
                    out[key] = z[key]
    out["recipe"] = json.loads(str(attrs["recipe"]))
    out["shells"] = json.loads(str(attrs["shells"]))
    out["seed"] = int(attrs["seed"])
    return out
