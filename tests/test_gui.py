"""The web GUI (``exelfs gui``): its steps on sessions without a browser, the command, and the walk in
real Chromium through Playwright (Debian's /usr/bin/chromium, headless): upload, click the edge, the
identification and the 3D structure, the analysis, the report; bad uploads; two tabs at once.

The browser tests skip where Chromium or Playwright is missing, except in CI (CI=true), where they fail."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest

from exelfs import cli
from exelfs.errors import InputError
from exelfs.gui import actions, create_app
from exelfs.gui import views
from exelfs.gui.state import SessionStore
from exelfs.pipeline import METHODS, Result
from exelfs.structure.view import ABSORBER_COLOUR

CHROMIUM = "/usr/bin/chromium"
LIMIT_MB = 1.0          # the test server's upload limit
WAIT_MS = 60_000        # the slowest step (FEFF paths and the fit) on a loaded 2-core machine
MGO = "eels_MgO_MgK_OK_atlas.msa"


def _msa_bytes(energy, counts) -> bytes:
    lines = ["#FORMAT      : EMSA/MAS Spectral Data File", "#VERSION     : 1.0", "#TITLE       : test",
             f"#NPOINTS     : {len(energy)}", "#NCOLUMNS    : 1", "#XUNITS      : eV", "#DATATYPE    : XY",
             "#XPERCHAN    : 1.0", f"#OFFSET      : {energy[0]}", "#SPECTRUM    : Spectral Data Starts Here"]
    lines += [f"{e:.3f}, {c:.6e}" for e, c in zip(energy, counts)]
    return ("\n".join(lines + ["#ENDOFDATA   : "]) + "\n").encode()


# ------------------------------------------------------------------------------------------------
# without a browser


def test_sessions_are_apart_expire_and_are_removed():
    store = SessionStore(ttl_s=0.2)
    a, b = store.get("a" * 32), store.get("b" * 32)
    assert a is not b and a.folder != b.folder and a.folder.parent == b.folder.parent == store.root
    assert store.get("a" * 32) is a
    (a.folder / "x").write_text("x")
    time.sleep(0.3)
    store.get("c" * 32)                       # a visit drops the sessions idle longer than the ttl
    assert {s.sid for s in store.sessions()} == {"c" * 32} and not a.folder.exists()
    with pytest.raises(InputError, match="session id"):
        store.get("../../etc")
    store.close()
    assert not store.root.exists()


def test_spectrum_image_pixel_and_region():
    from exelfs.spectrum import Spectrum

    store = SessionStore()
    try:
        s = store.get("d" * 32)
        cube = np.arange(2 * 3 * 50, dtype=float).reshape(2, 3, 50) + 1.0
        s.reset(Spectrum(np.arange(400.0, 450.0), cube), "image")
        np.testing.assert_allclose(actions.active(s).intensity, cube.sum(axis=(0, 1)))
        actions.select(s, ("pixel", 1, 2))
        np.testing.assert_allclose(actions.active(s).intensity, cube[1, 2])
        actions.select(s, ("region", 0, 0, -3, 7))     # clipped to the image: the whole first row
        np.testing.assert_allclose(actions.active(s).intensity, cube[0].sum(axis=0))
        assert actions.selection_text(s) == "analysing the sum of x 0-2, y 0-0"
        actions.select(s, None)
        assert actions.selection_text(s) == "analysing the sum of all pixels"
    finally:
        store.close()


def test_lowloss_is_kept_for_the_next_file(real_dir):
    store = SessionStore()
    try:
        s = store.get("9" * 32)
        low = "eels_hBN_lowloss_LL_02_cal.msa"
        assert "used for deconvolution" in actions.load_lowloss(s, low, (real_dir / low).read_bytes())
        text = actions.load_file(s, MGO, (real_dir / MGO).read_bytes())
        assert f"low-loss: {low}" in text and s.lowloss.kind == "eels" and not s.lowloss.nav_shape
        with pytest.raises(InputError, match="not an EELS spectrum"):
            actions.load_lowloss(s, "cu.xdi", (real_dir / "xas_Cu_K_foil_rt_2016.xdi").read_bytes())
    finally:
        store.close()


def test_upload_limit_and_damaged_upload():
    with pytest.raises(InputError, match="over the upload limit of 1 MB"):
        actions.decode_upload("data:;base64," + "A" * 2_000_000, "big.msa", 1_000_000)
    with pytest.raises(InputError, match="did not arrive"):
        actions.decode_upload(None, "x.msa", 1_000_000)
    assert actions.decode_upload("data:;base64,aGVsbG8=", "x.msa", 10) == b"hello"


def test_polymorphs_and_cif_structures(tmp_path):
    from ase.build import bulk
    from ase.io import write

    store = SessionStore()
    try:
        s = store.get("e" * 32)
        cands = actions.structure_candidates("TiO2")
        assert len(cands) >= 2                          # rutile first, then anatase, ...
        info = actions.build_structure(s, "TiO2", 1, "Ti_L3")
        assert info["name"] == cands[1].name and s.structure is cands[1].atoms
        assert info["shells"][0]["scatterer"] == "O" and info["absorber"] == "Ti"
        cif = s.path("structure-mgo.cif")
        write(cif, bulk("MgO", "rocksalt", a=4.212), format="cif")
        info = actions.build_structure(s, str(cif), 0, "O_K")
        assert s.structure == str(cif)
        assert info["shells"][0] == {"scatterer": "Mg", "r": pytest.approx(2.106, abs=1e-3), "n": 6}
        with pytest.raises(InputError, match="absorber Cu is not in"):
            actions.build_structure(s, str(cif), 0, "Cu_K")
    finally:
        store.close()


def test_methods_side_by_side():
    shell = {"scatterer": "O", "r": 2.09, "r_err": 0.05, "n": 3.9, "n_err": 1.3, "sigma2": 0.0063, "sigma2_err": 0.0047}
    fit = Result(edge="Mg_K", structure="MgO", method="fit", kind="eels", e0_ev=1305.0, k_range=[3.0, 9.0],
                 r_range=[1.2, 2.4], kweight=2, shells=[shell], undetermined_shells=[], warnings=["w1"],
                 settings={}, stats={"r_factor": 0.01})
    columns = [views.method_column("fit", fit), views.method_column("nn", "no trained model for Mg_K")]
    text = [str(c.to_plotly_json()) for c in columns]
    assert "2.090 ± 0.050" in text[0] and "3.9 ± 1.3" in text[0] and "0.0063 ± 0.0047" in text[0]
    assert "could not run: no trained model for Mg_K" in text[1]


def test_rdf_figure_lines_bands_and_unseen_title():
    from exelfs.gui.figures import rdf_figure

    r = [1.0, 2.0, 3.0]
    rdf = {"r": r, "g": {"Mg": [0.0, 5.0, 1.0], "O": [0.0, 1.0, 8.0]},
           "lo": {"Mg": [0.0, 4.0, 0.5], "O": [0.0, 0.5, 6.0]}, "hi": {"Mg": [0.1, 6.0, 1.5], "O": [0.2, 1.5, 10.0]},
           "shells": [{"scatterer": "Mg", "peaks": [{"r_ref": 2.106, "n_ref": 6.0, "r": 2.1, "r_err": 0.04, "n": 5.8,
                                                     "n_err": 0.9}]},
                      {"scatterer": "O", "peaks": [], "undetermined_peaks": [{"r_ref": 2.98, "n_ref": 12.0, "r": 2.9,
                                                                              "n": 7.0, "reason": "too wide"}]}],
           "unseen": False, "unseen_reason": None}
    fig = rdf_figure(rdf, "O_K")
    assert [t.name for t in fig.data] == ["Mg band low", "Mg band", "Mg neighbours", "Mg peaks (r ± error)",
                                          "O band low", "O band", "O neighbours"]
    marks = fig.data[3]                                             # the answered peak: position, error, area
    assert list(marks.x) == [2.1] and list(marks.error_x.array) == [0.04] and "5.8 ± 0.9" in marks.text[0]
    assert marks.y[0] == pytest.approx(6.0 + 0.1 * (1.5 - 6.0))     # on the band's upper edge
    lo, hi, mean = fig.data[4:7]
    assert list(lo.y) == [0.0, 0.5, 6.0] and list(hi.y) == [0.2, 1.5, 10.0] and list(mean.y) == [0.0, 1.0, 8.0]
    assert hi.fill == "tonexty" and lo.fill is None and list(mean.x) == r
    assert fig.data[1].fillcolor != hi.fillcolor                   # each kind its own colour
    assert fig.layout.xaxis.title.text == "r (A)" and fig.layout.yaxis.title.text == "atoms per A"
    assert tuple(fig.layout.xaxis.range) == (1.0, 3.0)
    assert [s.x0 for s in fig.layout.shapes] == [2.106, 2.98]    # the crystal's shells, undetermined ones too
    assert [a.text for a in fig.layout.annotations] == ["Mg N=6", "O N=12"]
    assert fig.layout.title.text.startswith("O_K: partial RDF") and "unseen" not in fig.layout.title.text
    unseen = rdf_figure({**rdf, "unseen": True, "unseen_reason": "k range 3-6 1/A is short"}, "O_K")
    assert unseen.layout.title.text.startswith("unseen spectrum: not a result")
    assert "k range 3-6 1/A is short" in [a.text for a in unseen.layout.annotations]
    empty = rdf_figure(None)
    assert not empty.data and "partial RDF" in empty.layout.annotations[0].text


def test_layout_has_the_rdf_option_and_plot():
    store = SessionStore()
    page = create_app(store=store).layout()
    ids = {}

    def walk(node):
        if getattr(node, "id", None):
            ids[node.id] = node
        children = getattr(node, "children", None)
        for child in children if isinstance(children, (list, tuple)) else [children]:
            if hasattr(child, "to_plotly_json"):
                walk(child)

    walk(page)
    stable = {"upload", "spectrum-plot", "identification", "structure-view", "chi-plot", "ft-plot", "results"}
    assert stable | {"rdf-option", "rdf-plot"} <= set(ids)
    assert ids["rdf-option"].value == [] and [o["value"] for o in ids["rdf-option"].options] == ["rdf"]
    assert not ids["rdf-plot"].figure.data                        # empty until an RDF is computed
    try:
        with pytest.raises(InputError, match="partial RDF comes with the nn method"):
            actions.analyse(store.get("f" * 32), "O_K", {}, ["fit"], rdf=True)
    finally:
        store.close()


def test_gui_command_serves_on_localhost_and_cleans_up(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "exelfs", "gui", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    assert r.status == 200 and b"exelfs" in r.read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.3)
        folders = list(tmp_path.glob("exelfs-gui-*"))
        assert len(folders) == 1
        with pytest.raises(ConnectionRefusedError):     # bound to 127.0.0.1 alone, not to every address
            socket.create_connection(("127.0.0.2", port), timeout=2).close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "http://127.0.0.1:" in out
    assert list(tmp_path.iterdir()) == []      # the session root is removed at exit


def test_gui_command_port_in_use(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert cli.main(["gui", "--port", str(s.getsockname()[1])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot listen on 127.0.0.1" in err[0]


# ------------------------------------------------------------------------------------------------
# in the browser


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def browser():
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the python package playwright is not installed (pip install -e '.[test]')"
    if missing is None and not os.access(CHROMIUM, os.X_OK):
        missing = f"{CHROMIUM} is missing (Debian's chromium; bash scripts/setup.sh installs it)"
    if missing:
        if _ci():
            pytest.fail(f"{missing}: the browser test must run in CI")
        pytest.skip(missing)
    with sync_playwright() as pw:
        # root needs --no-sandbox; small /dev/shm in containers; software WebGL for the 3D view
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-dev-shm-usage", "--enable-unsafe-swiftshader"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def gui():
    from werkzeug.serving import make_server

    app = create_app(max_upload_mb=LIMIT_MB)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}/", store=app.exelfs_store)
    server.shutdown()
    app.exelfs_store.close()
    assert not app.exelfs_store.root.exists()


def _open(browser, gui):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(gui.url)
    expect(page.locator("#upload")).to_be_visible(timeout=WAIT_MS)
    return context, page


def _upload(page, path, text):
    from playwright.sync_api import expect

    page.set_input_files("#upload input[type=file]", str(path))
    expect(page.locator("#load-message")).to_contain_text(text, timeout=WAIT_MS)


def _plot_shows(page, title):
    page.wait_for_function("""t => { const gd = document.querySelector('#spectrum-plot .js-plotly-plot');
        return gd && gd.data && gd.data.length > 0 && gd.layout.title.text.includes(t); }""", arg=title,
                           timeout=WAIT_MS)


def _click_energy(page, energy_ev):
    """Click the spectrum plot at an energy (eV), half-way up the plotting area."""
    x, y = page.evaluate("""e => { const gd = document.querySelector('#spectrum-plot .js-plotly-plot');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
        return [box.left + xa._offset + xa.l2p(e), box.top + ya._offset + ya._length / 2]; }""", energy_ev)
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def _top_candidate(page, edge):
    from playwright.sync_api import expect

    expect(page.locator("#identification td[data-dash-column='edge']").first).to_have_text(edge, timeout=WAIT_MS)


def _red_absorber(page, element):
    """The 3D view holds the absorber (element) in red at the origin."""
    from playwright.sync_api import expect

    expect(page.locator("#structure-shells")).to_contain_text(f"absorber {element} (red)", timeout=WAIT_MS)
    return page.evaluate("""c => { const gd = document.querySelector('#structure-view .js-plotly-plot');
        const t = gd.data.find(t => t.type == 'scatter3d' && (t.name || '').endsWith('(absorber)'));
        return t && t.marker.color == c && t.x[0] == 0 && t.y[0] == 0 && t.z[0] == 0 ? t.name : null; }""",
                         ABSORBER_COLOUR)


def _analyse(page, scatterer):
    """Run the fit (the methods offered are those registered) and wait for its first shell."""
    from playwright.sync_api import expect

    options = page.locator("#methods input[type=checkbox]")
    assert sorted(options.evaluate_all("els => els.map(e => e.value)")) == sorted(METHODS)
    for method in METHODS:
        (page.check if method == "fit" else page.uncheck)(f"#methods input[value='{method}']")
    page.click("#run-analysis")
    expect(page.locator("#results .shell-row").first).to_contain_text(scatterer, timeout=2 * WAIT_MS)


def _report(page) -> tuple[dict, list]:
    """Download the report; (result.json, the zip's file names)."""
    with page.expect_download(timeout=WAIT_MS) as download:
        page.click("#download-report")
    with zipfile.ZipFile(download.value.path()) as z:
        return json.loads(z.read("result.json")), z.namelist()


def test_walk_real_mgo_o_k(browser, gui, real_dir, manifest):
    """The real MgO spectrum: click at 532 eV, O K first, MgO around O in 3D, Mg at 2.106 A."""
    from playwright.sync_api import expect

    ref = next(e for e in manifest if e["file"] == MGO)["shells"]["O_K"][0]
    context, page = _open(browser, gui)
    try:
        _upload(page, real_dir / MGO, "edges found: O_K at 530 eV, Mg_K at 1298 eV")
        _plot_shows(page, MGO)
        page.check("#yscale input[value=log]")
        page.wait_for_function("() => document.querySelector('#spectrum-plot .js-plotly-plot')"
                               "._fullLayout.yaxis.type == 'log'", timeout=WAIT_MS)
        _click_energy(page, 532.0)
        _top_candidate(page, "O_K")
        assert "O_K" in page.inner_text("#identify-message")
        expect(page.locator("#edge")).to_have_value("O_K", timeout=WAIT_MS)
        expect(page.locator("#structure-spec")).to_have_value("MgO", timeout=WAIT_MS)
        assert _red_absorber(page, "O") == "O (absorber)"
        page.fill("#ctl-kweight", "2")
        _analyse(page, ref["scatterer"])
        assert not page.is_checked("#rdf-option input[value=rdf]")      # no RDF asked: the panel says how
        expect(page.locator("#rdf-plot")).to_contain_text("tick 'partial RDF'")
        result, names = _report(page)
    finally:
        context.close()
    assert {"result.json", "index.html", "refit_larch.py", "spectrum.png", "chi_k.dat"} <= set(names)
    assert result["edge"] == "O_K" and result["structure"] == "MgO"
    assert result["settings"]["kweight"]["set_by"] == "user" and result["kweight"] == 2
    first = result["shells"][0]
    assert first["scatterer"] == ref["scatterer"] and first["r_err"] < 0.2
    assert abs(first["r"] - ref["r"]) <= 2 * first["r_err"]


def test_walk_generated_example(browser, gui, tmp_path):
    """The generated example uploaded as .hspy: O K found at 532 eV; then Mg K, fitted against the truth."""
    core, _, truth = actions.example()
    path = tmp_path / "example.hspy"
    core.to_hyperspy().save(path)
    context, page = _open(browser, gui)
    try:
        _upload(page, path, "edges found: O_K")
        _plot_shows(page, "example.hspy")
        _click_energy(page, 532.0)
        _top_candidate(page, "O_K")
        assert _red_absorber(page, "O") == "O (absorber)"
        _click_energy(page, 1305.0)
        _top_candidate(page, "Mg_K")
        assert _red_absorber(page, "Mg") == "Mg (absorber)"
        _analyse(page, truth[0]["scatterer"])
    finally:
        context.close()
    result = next(s for s in gui.store.sessions() if s.filename == "example.hspy").results["fit"]
    first = result.shells[0]
    assert result.edge == "Mg_K" and first["scatterer"] == truth[0]["scatterer"] == "O"
    assert abs(first["r"] - truth[0]["r"]) <= 2 * first["r_err"] and first["r_err"] < 0.1


def test_bad_uploads_leave_the_page_usable(browser, gui, tmp_path, real_dir):
    from playwright.sync_api import expect

    rng = np.random.default_rng(7)
    energy = np.arange(300.0, 900.0, 1.0)
    bad = {"garbage.dm3": (rng.bytes(5000), "garbage.dm3: not a Gatan DigitalMicrograph file"),
           "big.msa": (b"0" * int(1.5e6), "big.msa is 1.5 MB, over the upload limit of 1 MB"),
           "picture.png": (b"\x89PNG\r\n\x1a\n" + rng.bytes(200), "picture.png: unknown file type '.png'"),
           "flat.msa": (_msa_bytes(energy, rng.poisson(1e10 * energy ** -3.0)), "no edge found")}
    context, page = _open(browser, gui)
    try:
        for name, (raw, message) in bad.items():
            (tmp_path / name).write_bytes(raw)
            _upload(page, tmp_path / name, message)
        assert page.locator("#load-message .error").count() == 0      # the last one (no edge) is no error
        _upload(page, real_dir / MGO, "edges found: O_K")
        _plot_shows(page, MGO)
        expect(page.locator("#load-message .error")).to_have_count(0)
    finally:
        context.close()
    held = [p.name for s in gui.store.sessions() for p in s.folder.iterdir()]
    assert not any("big" in n or "garbage" in n or "picture" in n for n in held)


def test_two_tabs_keep_their_own_data(browser, gui, real_dir):
    """Two browser contexts at once: each sees only its own spectrum, also when redrawn from the server."""
    from playwright.sync_api import expect

    (ca, a), (cb, b) = _open(browser, gui), _open(browser, gui)
    try:
        a.click("#load-example")
        _upload(b, real_dir / MGO, "eels_MgO")
        expect(a.locator("#load-message")).to_contain_text("generated example (MgO)", timeout=WAIT_MS)
        _plot_shows(b, MGO)
        for page, title in ((a, "generated example"), (b, MGO)):   # each redraws from its own session
            page.check("#yscale input[value=log]")
            page.wait_for_function("t => { const gd = document.querySelector('#spectrum-plot .js-plotly-plot');"
                                   "return gd._fullLayout.yaxis.type == 'log' && gd.layout.title.text.includes(t); }",
                                   arg=title, timeout=WAIT_MS)
        assert "eels_MgO" not in a.inner_text("#load-message")
        assert "generated example" not in b.inner_text("#load-message")
    finally:
        ca.close()
        cb.close()
    sessions = gui.store.sessions()
    assert {"generated example (MgO)", MGO} <= {s.filename for s in sessions}
    assert len({s.folder for s in sessions}) == len(sessions)
    mgo = [s for s in sessions if s.filename == MGO]
    assert all((s.folder / f"data-{MGO}").is_file() for s in mgo)
    example = next(s for s in sessions if s.filename == "generated example (MgO)")
    assert not list(example.folder.glob("data-*"))      # nothing of the other tab's upload in its folder


def test_spectrum_image_pick_pixel_and_region_in_the_page(browser, gui, real_dir):
    from playwright.sync_api import expect

    def at(x, y):
        return page.evaluate("""p => { const gd = document.querySelector('#navigator .js-plotly-plot');
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
            return [box.left + xa._offset + xa.l2p(p[0]), box.top + ya._offset + ya.l2p(p[1])]; }""", [x, y])

    context, page = _open(browser, gui)
    try:
        _upload(page, real_dir / "eels_SI2x2_300-2348eV_rsciio.dm4", "spectrum image 2 x 2")
        expect(page.locator("#navigator-box")).to_be_visible()
        page.wait_for_function("""() => { const gd = document.querySelector('#navigator .js-plotly-plot');
            return gd && gd._fullLayout && gd._fullLayout.xaxis && gd.data && gd.data.length > 0; }""",
                               timeout=WAIT_MS)
        # a click that lands while plotly is still wiring its handlers is lost: click again until it is taken
        for _ in range(10):
            page.mouse.click(*at(1, 0))
            try:
                expect(page.locator("#selection-text")).to_contain_text("pixel x = 1, y = 0", timeout=3000)
                break
            except AssertionError:
                continue
        expect(page.locator("#selection-text")).to_contain_text("pixel x = 1, y = 0", timeout=WAIT_MS)
        _plot_shows(page, "pixel x = 1, y = 0")
        page.mouse.move(*at(-0.3, -0.3))            # a box over the first row (select tool)
        page.mouse.down()
        page.mouse.move(*at(0.5, 0.0), steps=5)
        page.mouse.move(*at(1.3, 0.3), steps=5)
        page.mouse.up()
        expect(page.locator("#selection-text")).to_contain_text("sum of x 0-1, y 0-0", timeout=WAIT_MS)
        session = next(s for s in gui.store.sessions() if s.filename.endswith("SI2x2_300-2348eV_rsciio.dm4"))
        np.testing.assert_allclose(actions.active(session).intensity, session.data.intensity[0].sum(axis=0))
    finally:
        context.close()
