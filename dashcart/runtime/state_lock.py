"""One cart per state directory.

Two carts on one state directory would write one basket journal and one order outbox at once
(an operator's `dashcart run` beside the service, a demo pointed at a live cart's directory).
The first to start holds an advisory lock on ``<state_dir>/dashcart.lock`` until it stops; the
kernel drops it when the process dies, so a crash never leaves the cart locked out.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from dashcart.errors import RetryLater

LOCK_NAME = "dashcart.lock"


class StateDirLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or :class:`RetryLater` naming the process that holds it (it may stop)."""
        if self._fd is not None:
            return
        writable = True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            # Left by another user (`sudo dashcart run` once), or on a read-only disk: a lock
            # needs no write access, so take it read-only.
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                # No lock file and none can be made: nobody else can write this directory
                # either, and opening the journal and outbox says precisely what is wrong.
                return
            writable = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise RetryLater(f"{self.path.parent}: another dashcart (pid {holder}) is using this state directory; "
                             "stop it first (the service: systemctl stop dashcart)") from None
        if writable:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)   # closing the descriptor drops the lock
            self._fd = None
