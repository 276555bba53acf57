"""``dashcart screenshots DIR``: a PNG of every screen at every resolution and language."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dashcart.config import Config
from dashcart.errors import Misconfigured


def run(args: argparse.Namespace, config: Config) -> int:
    # Screenshots never need a real window: SDL draws off-screen.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    from dashcart.sim.demo_scenes import all_scenes
    from dashcart.ui.layout import RESOLUTIONS, parse_resolution
    from dashcart.ui.screenshots import write_screenshots

    data = Path(args.data) if args.data else None
    if data is not None and not data.is_dir():
        raise Misconfigured(f"--data {data}: no such directory")
    sizes = tuple(parse_resolution(s) for s in args.size) if args.size else RESOLUTIONS
    languages = tuple(args.language) if args.language else ("en", "ko")
    out = Path(args.dir)
    if out.exists() and not out.is_dir():
        raise Misconfigured(f"{out}: exists and is not a directory")
    written = write_screenshots(out, config, all_scenes(data, config), sizes, languages)
    print(f"{len(written)} screenshots in {out}")
    return 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("screenshots", parents=[common], help="draw every screen to PNG files",
                                   description="Draw every touchscreen screen, at every supported resolution and "
                                               "language, into DIR as PNG files: the snapshots the controller publishes "
                                               "while it plays the demo's trip.")
    parser.add_argument("dir", metavar="DIR", help="where to write the PNGs (created if missing)")
    parser.add_argument("--data", metavar="DIR", help="data with the demo catalogue and pictures "
                                                      "(default: the demo store bundled with the package)")
    parser.add_argument("--size", action="append", metavar="WxH", help="only this resolution (repeatable)")
    parser.add_argument("--language", action="append", choices=("en", "ko"), help="only this language (repeatable)")
    parser.set_defaults(func=run)
