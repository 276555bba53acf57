"""The three kinds of trouble a user can act on, after Home Assistant's split.

Each carries a one-line message that names the file, field or device and the problem;
the command line prints it without a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import overload


class DashcartError(Exception):
    """A problem the user can act on. ``str()`` is one line."""

    exit_code = 1


class Misconfigured(DashcartError):
    """A config, catalogue, trip or other file the user gave is wrong: fix it, then retry."""

    exit_code = 2


class RetryLater(DashcartError):
    """Something transient is missing (a device unplugged, the store offline): it may come back."""

    exit_code = 3


class PermanentlyBroken(DashcartError):
    """Something will not work until it is replaced (a corrupt model file, a dead sensor)."""

    exit_code = 4


@overload
def read_user_file(path: str | os.PathLike[str], missing: str, encoding: str = "utf-8") -> str: ...


@overload
def read_user_file(path: str | os.PathLike[str], missing: str, encoding: None) -> bytes: ...


def read_user_file(path: str | os.PathLike[str], missing: str, encoding: str | None = "utf-8") -> str | bytes:
    """The contents of a file the user named (text in ``encoding``, or bytes for None). A file
    that is not there is :class:`Misconfigured` with ``"<path>: <missing>"``; one that cannot be
    read or decoded says why, in one line."""
    try:
        return Path(path).read_bytes() if encoding is None else Path(path).read_text(encoding=encoding)
    except FileNotFoundError:
        raise Misconfigured(f"{path}: {missing}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise Misconfigured(f"{path}: cannot read: {reason}") from None
