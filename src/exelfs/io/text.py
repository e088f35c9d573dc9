"""Plain-text helpers: decode what real files carry (UTF-8 with or without a byte-order mark, UTF-16,
Latin-1), repair harmless habits (decimal commas, a line of text after the numbers), refuse binary,
empty, oversized or truncated files, and split numeric columns naming the first bad line.

Repairs are appended to the caller's ``warnings`` list; refusals raise InputError with one sentence.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError

_SPLIT = re.compile(r"[,;\s]+")
COMMENT_CHARS = ("#", "%", ";", "!", "*")
MAX_TEXT_LINES = 500_000  # channels: far beyond any EELS or XAS spectrum, and ~0.2 GB to parse
MAX_TEXT_BYTES = 100 * 2 ** 20
_DATA_START = re.compile(r"^\s*[-+.\d]")


def read_text(path: Path, warnings: list | None = None) -> str:
    """The file's text, with decimal commas and trailing lines of text repaired (noted in `warnings`);
    InputError for binary content, an empty file or one too long to be a spectrum."""
    path = Path(path)
    notes = [] if warnings is None else warnings
    if path.stat().st_size > MAX_TEXT_BYTES:
        raise InputError(f"{path}: {path.stat().st_size / 2 ** 20:.0f} MB of text, more than a spectrum "
                         f"holds (exelfs reads text files of up to {MAX_TEXT_LINES} channels): keep only the "
                         "energy range you need, or save it as .hspy")
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(f"{path}: the file is empty")
    text = _decode(raw, path, notes)
    n_lines = text.count("\n")
    if n_lines > MAX_TEXT_LINES:
        raise InputError(f"{path}: {n_lines} lines, more than the {MAX_TEXT_LINES} channels exelfs reads "
                         "from a text file: keep only the energy range you need, or save it as .hspy")
    return _repair(text, notes)


def _decode(raw: bytes, path, notes: list) -> str:
    """Text from bytes: UTF-16 (with or without its byte-order mark), UTF-8 (BOM dropped), else Latin-1."""
    encoding = None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in raw[:65536]:
        head = raw[:4096]
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.9 * len(odd) and even.count(0) == 0:
            encoding = "utf-16-le"
        elif even.count(0) > 0.9 * len(even) and odd.count(0) == 0:
            encoding = "utf-16-be"
        else:
            raise InputError(f"{path}: this is not a text file (binary content where numbers were expected)")
    if encoding:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            raise InputError(f"{path}: this is not a text file (binary content where numbers were "
                             "expected)") from None
        notes.append("the file is UTF-16 text: decoded as such")
        text = text.lstrip("\ufeff")
    else:
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    # latin-1 (and UTF-16) decode almost anything: insist on mostly printable text
    sample = text[:65536]
    printable = sum(c.isprintable() or c in "\r\n\t" for c in sample)
    if "\x00" in sample or printable < 0.95 * len(sample):
        raise InputError(f"{path}: this is not a text file (binary content where numbers were expected)")
    return text


def _repair(text: str, notes: list) -> str:
    """Decimal commas -> points (when values are separated by ';' or tabs and no '.' is used), and lines
    of words after the last line of numbers dropped."""
    lines = text.splitlines(keepends=True)
    data = [i for i, line in enumerate(lines) if _DATA_START.match(line)]
    sample = "".join(lines[i] for i in data[:200])
    if "," in sample and "." not in sample and (";" in sample or "\t" in sample):
        for i in data:
            lines[i] = lines[i].replace(",", ".")
        notes.append("decimal commas read as decimal points")
    if data:
        tail = [line.strip() for line in lines[data[-1] + 1:] if line.strip()]
        words = [t for t in tail if not t.startswith(COMMENT_CHARS)]
        if words and all(not _is_number(tok) for t in words for tok in split_numbers(t)[:1]):
            lines = lines[:data[-1] + 1]
            notes.append(f"ignored {len(words)} line(s) of text after the numbers ('{words[0][:40]}')")
    return "".join(lines)


@contextlib.contextmanager
def library_copy(path: Path, text: str):
    """The path a library reader (Larch) should open: the file itself when `text` is its content as
    stored, else a temporary UTF-8 copy of the repaired text (removed afterwards)."""
    path = Path(path)
    try:
        same = path.read_bytes().decode("utf-8") == text
    except UnicodeDecodeError:
        same = False
    if same:
        yield path
        return
    fd, tmp = tempfile.mkstemp(suffix=path.suffix, prefix="exelfs-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        yield Path(tmp)
    finally:
        os.unlink(tmp)


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
    a non-numeric line after the numbers start, rows of different lengths, or a last line cut short
    (no final newline and a last number shorter than that column's numbers above it) are refused."""
    header: list[str] = []
    rows: list[list[float]] = []
    labels: list[str] = []
    ncols = None
    lines = text.splitlines()
    last_line = max((i for i, raw in enumerate(lines, start=1) if raw.strip()), default=0)
    widths: list[int] = []
    for lineno, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(COMMENT_CHARS):
            if not rows:
                header.append(stripped)
            continue
        tokens = split_numbers(stripped)
        if not tokens:  # a line of separators only
            continue
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
        if lineno == last_line:
            check_last_number(text, tokens[-1], widths, lineno, name)
        widths = (widths + [len(tokens[-1])])[-50:]
        rows.append(values)
    if not rows:
        raise InputError(f"{name}: no numeric data found in the file")
    if not labels and header:
        # the last comment line often names the columns ("#  energy  i0  itrans")
        cand = split_numbers(header[-1].lstrip("".join(COMMENT_CHARS)))
        if len(cand) == ncols and not any(_is_number(t) for t in cand):
            labels = cand
    return np.asarray(rows, dtype=float), header, [label.lower() for label in labels]


def check_last_number(text: str, token: str, widths: list[int], lineno: int, name) -> None:
    """Refuse a file cut in its last number: no final newline, and the last number shorter than every
    number of its column in the lines above (``widths``, 5 or more)."""
    if len(widths) >= 5 and not text.endswith(("\n", "\r")) and len(token) < min(widths):
        raise InputError(f"{name}: the file ends in the middle of line {lineno} (its last number, "
                         f"'{token}', is cut short): it is truncated")


def _is_number(token: str) -> bool:
    try:
        to_float(token)
        return True
    except ValueError:
        return False
