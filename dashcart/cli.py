"""The ``dashcart`` command line.

Each command lives in its own module under ``dashcart.commands`` and exposes
``register(subparsers)``, which adds its parser and sets ``func(args, config) -> int``.
Command modules import their heavy dependencies inside ``func`` so that ``--help`` is fast
and a missing optional dependency breaks only the command that needs it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence

from dashcart import __version__
from dashcart.config import load_config
from dashcart.errors import DashcartError, RetryLater

COMMAND_MODULES: tuple[str, ...] = (
    "dashcart.commands.doctor",
    "dashcart.commands.config",
    "dashcart.commands.catalogue",
    "dashcart.commands.replay",
    "dashcart.commands.record",
    "dashcart.commands.weigh",
    "dashcart.commands.calibrate",
    "dashcart.commands.vision_images",
    "dashcart.commands.screenshots",
    "dashcart.commands.ui_demo",
    "dashcart.commands.store_sim",
    "dashcart.commands.lane_eid",
    "dashcart.commands.outbox",
    "dashcart.commands.run",
    "dashcart.commands.demo",
    "dashcart.commands.beacons",
    "dashcart.commands.fleet_ingest",
    "dashcart.commands.fleet_status",
)

log = logging.getLogger("dashcart")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dashcart",
        description="The smart shopping cart: scale, cameras, basket, touchscreen and checkout.")
    parser.add_argument("--version", action="version", version=f"dashcart {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE",
                        help="config file (default: /etc/dashcart/dashcart.toml if it exists, else built-in defaults)")
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output on stderr (-v info, -vv debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers, common)
    return parser


#: syslog priorities (sd-daemon(3)) of the logging levels, for journald.
JOURNAL_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """Each line starts with ``<N>``, its syslog priority: journald files it under that priority
    (so `journalctl -u dashcart -p warning` works) and strips the prefix."""

    def format(self, record: logging.LogRecord) -> str:
        priority = JOURNAL_PRIORITY.get(record.levelno, 4 if record.levelno > logging.INFO else 7)
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines() or [""])


def stderr_is_the_journal(environ: dict[str, str] | None = None) -> bool:
    """Whether stderr is the journal stream systemd gave us ($JOURNAL_STREAM names its device:inode)."""
    stream = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = stream.partition(":")
    try:
        st = os.fstat(sys.stderr.fileno())
        return bool(stream) and (st.st_dev, st.st_ino) == (int(device), int(inode))
    except (ValueError, OSError, AttributeError):
        return False


def configure_logging(level_name: str, verbose: int) -> None:
    level = getattr(logging, level_name.upper())
    if verbose:
        level = min(level, logging.INFO if verbose == 1 else logging.DEBUG)
    if stderr_is_the_journal():
        # journald adds the time and the unit; the priority travels in the prefix.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
        logging.basicConfig(level=level, handlers=[handler], force=True)
        return
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s", force=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging("warning", args.verbose)
    try:
        config = load_config(args.config)
        configure_logging(config.log.level, args.verbose)
        return int(args.func(args, config) or 0)
    except DashcartError as exc:
        print(f"dashcart {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader of our --json output went away (e.g. `| head`): not an error of ours.
        sys.stderr.close()
        return 0
    except OSError as exc:
        # The last line of defence for a file a command did not expect to be unusable (the
        # state directory owned by the service's user, a path that is a directory): one line
        # naming it; the traceback only with -vv.
        logging.getLogger("dashcart").debug("%s failed", args.command, exc_info=exc)
        # Exit 1, as the traceback did: an unexpected failure is not known to be a config mistake
        # (exit 2 would keep systemd from restarting the cart).
        where = f"{exc.filename}: " if exc.filename else ""
        if isinstance(exc, PermissionError):
            print(f"dashcart {args.command}: {where}permission denied (for the cart's own files: run it as "
                  f"the cart's user, sudo -u dashcart dashcart {args.command} ...)", file=sys.stderr)
        else:
            print(f"dashcart {args.command}: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:   # likewise, for a database file (SQLite does not say which)
        logging.getLogger("dashcart").debug("%s failed", args.command, exc_info=exc)
        busy = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
        print(f"dashcart {args.command}: a database it needs: {exc}" + ("" if busy else " (is the path right, "
              "and writable by this user?)"), file=sys.stderr)
        return RetryLater.exit_code if busy else 1
    except KeyboardInterrupt:
        return 130
