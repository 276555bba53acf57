import subprocess
import sys

from dashcart.cli import COMMAND_MODULES, build_parser, main


def test_every_command_has_help(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    assert len(commands) == len(COMMAND_MODULES) or len(commands) >= len(COMMAND_MODULES)
    for name, sub in commands.items():
        text = sub.format_help()
        assert sub.description or sub.format_usage(), name
        assert "--config" in text, f"{name} lacks --config"


def test_bad_config_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[scale]\nbaudrate = "fast"\n')
    assert main(["doctor", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(bad) in err and "scale.baudrate" in err


def test_doctor_runs_without_hardware(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "scale" in out and "cameras" in out and "bluetooth" in out


def test_module_entry_point_prints_help():
    result = subprocess.run([sys.executable, "-m", "dashcart", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "doctor" in result.stdout
