"""Plain-text helpers: refuse binary or empty files, split numeric columns, name the first bad line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputError

_SPLIT = re.compile(r"[,;\s]+")
COMMENT_CHARS = ("#", "%", ";", "!", "*")


def read_text(path: Path) -> str:
    """The file's text; InputError for binary content."""
    raw = Path(path).read_bytes()
    if not raw.strip():
        raise InputError(f"{path}: the file is empty")
    if b"\x00" in raw[:65536]:
        raise InputError(f"{path}: this is not a text file (binary content where numbers were expected)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    # latin-1 decodes anything: insist on mostly printable text
    printable = sum(c.isprintable() or c in "\r\n\t" for c in text[:65536])
    if printable < 0.95 * min(len(text), 65536):
        raise InputError(f"{path}: this is not a text file (binary content where numbers were expected)")
    return text


def split_numbers(line: str) -> list[str]:
    return [t for t in _SPLIT.split(line.strip()) if t]


def to_float(token: str) -> float:
    """float() that also reads Fortran exponents (1.0D+03)."""
    try:
        return float(token)
    except ValueError:
        return float(token.replace("D", "E").replace("d", "e"))


def parse_columns(text: str, name) -> tuple[np.ndarray, list[str], list[str]]:
    """Numeric table of a text file: (data (rows, cols), header_lines, column_labels).

    Comment lines (#, %, ;, !, *) and non-numeric lines before the first numeric line are header;
    a non-numeric line after the numbers start, or rows of different lengths, are refused."""
    header: list[str] = []
    rows: list[list[float]] = []
    labels: list[str] = []
    ncols = None
    lines = text.splitlines()
    last_line = max((i for i, raw in enumerate(lines, start=1) if raw.strip()), default=0)
    for lineno, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(COMMENT_CHARS):
            if not rows:
                header.append(stripped)
            continue
        tokens = split_numbers(stripped)
        try:
            values = [to_float(t) for t in tokens]
        except ValueError:
            if not rows:
                header.append(stripped)
                labels = tokens
                continue
            bad = next(t for t in tokens if not _is_number(t))
            if lineno == last_line:
                raise InputError(f"{name}: the file ends in the middle of line {lineno}: "
                                 "it is truncated") from None
            raise InputError(f"{name}: line {lineno} holds text ('{bad[:30]}') where numbers belong; "
                             "fix or remove that line") from None
        if ncols is None:
            ncols = len(values)
        elif len(values) != ncols:
            raise InputError(f"{name}: line {lineno} has {len(values)} numbers where the lines before have "
                             f"{ncols} (truncated or damaged file?)")
        rows.append(values)
    if not rows:
        raise InputError(f"{name}: no numeric data found in the file")
    if not labels and header:
        # the last comment line often names the columns ("#  energy  i0  itrans")
        cand = split_numbers(header[-1].lstrip("".join(COMMENT_CHARS)))
        if len(cand) == ncols and not any(_is_number(t) for t in cand):
            labels = cand
    return np.asarray(rows, dtype=float), header, [label.lower() for label in labels]


def _is_number(token: str) -> bool:
    try:
        to_float(token)
        return True
    except ValueError:
        return False
