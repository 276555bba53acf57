"""Log lines carry their syslog priority when stderr is the journal, so `journalctl -p warning` works."""

import logging
import os
import subprocess
import sys

from dashcart.cli import JournalFormatter, stderr_is_the_journal


def test_each_line_starts_with_its_priority():
    formatter = JournalFormatter("%(name)s: %(message)s")
    def line(level, msg="x"):
        return formatter.format(logging.LogRecord("dashcart.run", level, "", 0, msg, None, None))
    assert line(logging.DEBUG) == "<7>dashcart.run: x"
    assert line(logging.INFO) == "<6>dashcart.run: x"
    assert line(logging.WARNING) == "<4>dashcart.run: x"
    assert line(logging.ERROR) == "<3>dashcart.run: x"
    assert line(logging.CRITICAL) == "<2>dashcart.run: x"
    assert line(logging.ERROR, "two\nlines") == "<3>dashcart.run: two\n<3>lines"   # each line keeps it


def test_only_when_stderr_is_the_stream_systemd_named(tmp_path):
    assert not stderr_is_the_journal({})
    assert not stderr_is_the_journal({"JOURNAL_STREAM": "1:2"})
    # A child whose stderr is a file and JOURNAL_STREAM names that file: prefixed lines.
    err = tmp_path / "stderr"
    with err.open("w") as handle:
        st = os.fstat(handle.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        code = ("import logging; from dashcart.cli import configure_logging; configure_logging('info', 0); "
                "logging.getLogger('dashcart.run').warning('scale: no readings'); "
                "logging.getLogger('dashcart.run').info('up')")
        subprocess.run([sys.executable, "-c", code], stderr=handle, env=env, check=True, timeout=60)
    assert err.read_text().splitlines() == ["<4>dashcart.run: scale: no readings", "<6>dashcart.run: up"]
    # Run by hand (stderr not the journal): the readable format, no prefixes.
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                           env={**os.environ, "JOURNAL_STREAM": "1:2"})
    assert plain.stderr.splitlines() == ["WARNING dashcart.run: scale: no readings", "INFO dashcart.run: up"]
