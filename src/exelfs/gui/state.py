"""Server-side state of the GUI: one ``Session`` per browser tab, keyed by the random id that the page
keeps in a ``dcc.Store`` (memory: a new tab or a reload gets a new id), so two tabs never see each
other's data. Each session writes only into its own temporary folder (uploads, reports, zips); folders
are removed when the session expires (idle for ``ttl_s`` seconds) and all of them when the app closes."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

SESSION_TTL_S = 2 * 3600.0   # a session idle this long is dropped and its folder removed
SID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Session:
    """What one tab has loaded and computed. ``data``: the file as read (Spectrum, spectrum image or
    ChiData); ``lowloss``: the EELS low-loss for deconvolution (``lowloss_name``: its file, or the example's);
    ``selection``: None (the whole file, a spectrum image summed), ``("pixel", iy, ix)`` or
    ``("region", iy0, iy1, ix0, ix1)`` (inclusive indices); ``found``: identify() of the active spectrum;
    ``marked_ev``: the operator's click (eV); ``ranked``: identify(at=[marked_ev]); ``structure``: the
    spec or ase.Atoms chosen for the analysis; ``results``: {method: Result or error sentence};
    ``progress``: what the running step is doing."""

    sid: str
    folder: Path
    data: object = None
    lowloss: object = None
    lowloss_name: str = ""
    filename: str = ""
    selection: tuple | None = None
    found: dict | None = None
    marked_ev: float | None = None
    ranked: dict | None = None
    structure: object = None
    results: dict = field(default_factory=dict)
    progress: str = ""
    version: int = 0
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def reset(self, data, filename: str):
        """A new file: everything computed from the previous one is dropped."""
        self.data, self.filename = data, filename
        self.selection = None
        self.reset_selection()

    def reset_selection(self):
        """A new pixel or region: identification, structure and results start again."""
        self.found = self.ranked = self.marked_ev = self.structure = None
        self.results = {}
        self.version += 1

    def path(self, name: str) -> Path:
        """A file name inside the session's folder (only the base name of ``name`` is kept)."""
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(str(name)).name)[-120:].lstrip(".") or "file"
        return self.folder / safe


class SessionStore:
    """The sessions of one app, each with a folder under one temporary root (removed at close/exit)."""

    def __init__(self, ttl_s: float = SESSION_TTL_S):
        self.root = Path(tempfile.mkdtemp(prefix="exelfs-gui-"))
        self.ttl_s = ttl_s
        self._sessions: dict[str, Session] = {}
        self._guard = threading.Lock()
        atexit.register(self.close)

    def get(self, sid) -> Session:
        """The session of ``sid`` (created on first use); expired sessions are dropped on the way."""
        if not isinstance(sid, str) or not SID.match(sid):
            raise InputError("this page has no valid session id: reload the page")
        now = time.monotonic()
        with self._guard:
            for old in [s for s in self._sessions.values() if now - s.last_used > self.ttl_s and s.sid != sid]:
                self._drop(old)
            session = self._sessions.get(sid)
            if session is None:
                folder = self.root / sid
                folder.mkdir(parents=True, exist_ok=True)
                session = self._sessions[sid] = Session(sid=sid, folder=folder)
            session.last_used = now
            return session

    def _drop(self, session: Session):
        self._sessions.pop(session.sid, None)
        shutil.rmtree(session.folder, ignore_errors=True)

    def sessions(self) -> list[Session]:
        """The live sessions (a copy of the list)."""
        with self._guard:
            return list(self._sessions.values())

    def close(self):
        """Drop every session and remove the temporary root."""
        with self._guard:
            self._sessions.clear()
        shutil.rmtree(self.root, ignore_errors=True)
