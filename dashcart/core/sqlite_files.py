"""The SQLite files behind the cart's state (the basket journal, the checkout outbox): moving a
damaged one aside, telling a file cut short from a new one, making a new one whole, and telling
a disk that refused a write from a damaged file. Both stores use them, so they live here rather
than in either."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

#: The files one SQLite database may be: the main file, its write-ahead log and shared memory,
#: and the rollback journal of its first transaction.
FILE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def quarantine(path: str | Path, stamp: str) -> Path:
    """Move a damaged SQLite file (and its -wal, -shm, -journal) aside as ``<name>.damaged-<stamp>``, kept
    for the on-call engineer; returns the new path of the main file. A second one in the same
    second gets ``-2`` (``-3`` ...) after the stamp rather than replacing the first."""
    path = Path(path)
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while any(Path(f"{target}{suffix}").exists() for suffix in FILE_SUFFIXES):
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for suffix in FILE_SUFFIXES:
        src = Path(f"{path}{suffix}")
        if src.exists():
            os.replace(src, Path(f"{target}{suffix}"))
    return target


def prune_quarantined(path: str | Path, keep_s: float, now: float) -> list[Path]:
    """Delete the files :func:`quarantine` moved aside for ``path`` more than ``keep_s`` before
    ``now`` (Unix seconds; judged by when they were moved aside: the rename's inode change
    time). A damaged basket journal holds the open session's sign-in token and basket: kept
    for the on-call engineer, not for ever (and not to fill the card). Returns what went."""
    path = Path(path)
    gone: list[Path] = []
    for kept in sorted(path.parent.glob(f"{path.name}.damaged-*")):
        try:
            if now - kept.stat().st_ctime > keep_s:
                kept.unlink()
                gone.append(kept)
        except FileNotFoundError:
            continue
    return gone


def cut_short(path: str | Path) -> bool:
    """Whether the SQLite file ``path`` is empty and was not just being made: cut short, where
    SQLite would silently open a new, empty database. SQLite writes the header in the file's
    first transaction, through a rollback journal: a crash in that one leaves an empty file
    beside its ``-journal``, which SQLite rolls back (nothing was ever committed). An empty file
    beside a ``-wal`` with commits in it is cut short too: SQLite deletes the ``-wal`` of an
    empty database file when it opens it, so those commits would be lost unseen; refused, the
    file and its ``-wal`` stay for the on-call engineer."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size:
        return False
    wal, rollback = Path(f"{path}-wal"), Path(f"{path}-journal")
    return (wal.is_file() and wal.stat().st_size > 0) or not rollback.is_file()


def create_whole(path: str | Path) -> None:
    """Make a new, empty SQLite database in WAL mode at ``path`` if there is none, all at once:
    built beside it and renamed into place, so a crash while a cart makes its files leaves no
    file or a whole one, never an empty one (which :func:`cut_short` takes for damage)."""
    path = Path(path)
    if path.exists():
        return
    building = path.with_name(f".{path.name}.new")
    for suffix in FILE_SUFFIXES:   # what a crash while building left
        Path(f"{building}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(building)
    try:
        db.execute("PRAGMA journal_mode=WAL").fetchall()   # writes the header: the file is a database
    finally:
        db.close()
    fd = os.open(building, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(building, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)   # the rename itself survives a power cut
    finally:
        os.close(fd)


def is_write_failure(exc: sqlite3.Error) -> bool:
    """Whether SQLite's error says the disk refused a write (full, read-only, failing), not that
    the file is damaged."""
    text = str(exc).lower()
    return any(w in text for w in ("readonly", "read-only", "disk is full", "disk i/o", "unable to open"))
