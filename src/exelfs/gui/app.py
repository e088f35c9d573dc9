"""The Dash app: ``create_app()`` builds it, ``serve()`` runs it (``exelfs gui``).

Long steps (structure proposal, FEFF paths, the fit, the report) run as ordinary callbacks on the
threaded Flask server and show a ``dcc.Loading`` spinner plus a progress line polled every 0.4 s; the
page never freezes because each callback is its own request and the server answers others meanwhile.
Why not Dash background callbacks with a diskcache manager: they run each job in a new process that
has to import Larch again and pass the session's spectra and Results through a disk cache (written
outside the session folder), which costs more than the analysis itself on a small machine, while the
state already lives in this process.
"""

from __future__ import annotations

import signal
import socket

from ..errors import InputError
from .callbacks import register
from .layout import make_layout
from .state import SessionStore

DEFAULT_UPLOAD_MB = 100.0
HOST, PORT = "127.0.0.1", 8050


def create_app(max_upload_mb: float = DEFAULT_UPLOAD_MB, store: SessionStore | None = None):
    """The exelfs workbench as a Dash app; its sessions are ``app.exelfs_store`` (close() removes their
    folders). Uploads over ``max_upload_mb`` (MB) are refused with a message."""
    from dash import Dash

    from ..pipeline import METHODS

    if not max_upload_mb or max_upload_mb <= 0:
        raise InputError(f"--max-upload-mb {max_upload_mb}: give a positive size in MB")
    limit = int(max_upload_mb * 1e6)
    store = store or SessionStore()
    app = Dash(__name__, title="exelfs", update_title=None, serve_locally=True)
    # a hard cap on any request: the file's base64 text and the request's own JSON
    app.server.config["MAX_CONTENT_LENGTH"] = int(limit * 1.4) + (1 << 20)
    app.layout = lambda: make_layout(sorted(METHODS), limit)
    register(app, store, limit)
    app.exelfs_store = store
    return app


def _check_port(host: str, port: int) -> None:
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another --port or "
                         "--host") from None


def _stop(signum, frame):
    """SIGTERM ends the server like Ctrl+C, so the session folders are removed."""
    raise SystemExit(0)


def serve(host: str = HOST, port: int = PORT, max_upload_mb: float = DEFAULT_UPLOAD_MB) -> None:
    """Run the workbench until Ctrl+C or SIGTERM; the session folders are removed on the way out."""
    if not 0 < int(port) < 65536:
        raise InputError(f"--port {port}: give a port number from 1 to 65535")
    _check_port(host, int(port))
    app = create_app(max_upload_mb)
    signal.signal(signal.SIGTERM, _stop)
    print(f"exelfs gui: open http://{host}:{port}/ in a browser (Ctrl+C to stop)", flush=True)
    try:
        app.run(host=host, port=int(port), debug=False)
    finally:
        app.exelfs_store.close()
