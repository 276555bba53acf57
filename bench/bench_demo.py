"""The simulated cart's scripted trip, timed: `dashcart demo --headless` end to end.

Prints a table: wall time (target: under 2 minutes), peak memory, the verdict, the questions the
cart asked. Runs it ``--runs`` times (default 1).

    python -m bench.bench_demo [--runs 3] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--data", help="shared data folder (default: ../shared/data)")
    args = ap.parse_args()
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy")
    rows = []
    failed = 0
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="dashcart-bench-demo-") as tmp:
            cmd = [sys.executable, "-m", "dashcart", "demo", "--headless", "--state-dir", tmp,
                   "--screenshots", os.path.join(tmp, "shots")] + (["--data", args.data] if args.data else [])
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.monotonic()
            done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
            wall = time.monotonic() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        verdict = re.search(r"^demo: (.*)$", done.stdout, re.M)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        failed += done.returncode != 0
        rows.append((str(run), f"{wall:.1f} s", f"{cpu:.1f} s", f"{after.ru_maxrss / 1024:.0f} MB",
                     str(done.returncode), verdict.group(1) if verdict else done.stderr.strip()[-120:]))
    head = ("run", "wall (target < 120 s)", "CPU", "peak RSS", "exit", "result")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    for row in [head] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
