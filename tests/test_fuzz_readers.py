"""Property-based fuzz of every reader: any bytes, and well-formed files with hostile contents, end in a
Spectrum/ChiData or an InputError with one sentence; nothing else."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exelfs.errors import InputError
from exelfs.io import read_spectrum
from exelfs.spectrum import ChiData, Spectrum

SUFFIXES = [".msa", ".txt", ".csv", ".xdi", ".xmu", ".chi", ".dm3", ".hspy", ".prj"]
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def _check(path):
    try:
        out = read_spectrum(path)
    except InputError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and "Traceback" not in msg
        return
    assert isinstance(out, (Spectrum, ChiData))


@FUZZ
@given(data=st.binary(max_size=3000), suffix=st.sampled_from(SUFFIXES))
def test_any_bytes(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"f{suffix}"
    path.write_bytes(data)
    _check(path)


_values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["", "x", "1e", "-", ","]))


@FUZZ
@given(values=st.lists(st.tuples(_values, _values), min_size=0, max_size=60),
       suffix=st.sampled_from([".msa", ".csv", ".xdi", ".chi", ".xmu"]), newline=st.booleans())
def test_hostile_columns(tmp_path_factory, values, suffix, newline):
    head = {".msa": "#FORMAT : EMSA/MAS\n#NPOINTS : 40\n#DATATYPE : XY\n#SPECTRUM :\n",
            ".xdi": "#XDI/1.1\n# Column.1: energy eV\n# Column.2: mutrans\n#----\n# energy mutrans\n",
            ".xmu": "# energy mu\n"}.get(suffix, "")
    body = "\n".join(f"{a} {b}" for a, b in values) + ("\n" if newline else "")
    path = tmp_path_factory.mktemp("fuzz") / f"f{suffix}"
    path.write_text(head + body)
    _check(path)


@FUZZ
@given(scale=st.floats(-1e300, 1e300), n=st.integers(20, 200))
def test_well_formed_xas_with_hostile_scale(tmp_path_factory, scale, n):
    e = 8900 + np.arange(n, dtype=float)
    mu = scale * (e > 8979)
    path = tmp_path_factory.mktemp("fuzz") / "f.xmu"
    path.write_text("# energy mu\n" + "".join(f"{a} {b!r}\n" for a, b in zip(e, mu)))
    _check(path)
