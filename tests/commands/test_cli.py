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


def test_a_file_a_command_cannot_use_is_one_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    # The state directory owned by the service's user, as the shipped layout has it (the tests
    # may run as root, so the refusal is raised where the outbox would open).
    from dashcart.commands import outbox

    def denied(args, config):
        raise PermissionError(13, "Permission denied", "/var/lib/dashcart/outbox.sqlite")

    monkeypatch.setattr(outbox, "run", denied)
    code = main(["outbox"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err   # as the traceback was: systemd restarts
    assert "/var/lib/dashcart/outbox.sqlite: permission denied (for the cart's own files: run it as the cart's user" in err
    # a directory where a database should be: SQLite says "unable to open", we say where to look
    (tmp_path / "adir").mkdir()
    csv = tmp_path / "c.csv"
    csv.write_text("code,code_type,name,group,category,sold_by,price_cents,unit_weight_g,unit_weight_sd_g,net_content,"
                   "zone,gsd_class_id,gsd_class\n4011,plu,Banana,Fruit,Banana,weight,69,120,20,,produce-fruit,,\n")
    assert main(["catalogue", "import", str(csv), "--db", str(tmp_path / "adir")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "dashcart catalogue:" in err
