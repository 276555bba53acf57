"""The fine-tune's smoke test on the demo store's few photos (the `[train]` extra; skipped without it).

CI runs this file in a venv of its own with `.[train]` (see .ci/run); the runtime venv has no torch.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")

REPO = Path(__file__).resolve().parents[2]
DEMO_GSD = REPO / "dashcart" / "sim" / "demo_store" / "grocery-store"


def _train(out: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training.train_recognizer", "--data", str(DEMO_GSD), "--image-size", "64",
         "--batch", "4", "--eval-every", "1", "--threads", "1", "--out", str(out / "recognizer.pt"),
         "--cache", str(out / "decoded"), *more],
        capture_output=True, text=True, cwd=REPO, timeout=110)


def _weights(path: Path) -> dict:
    return torch.load(path, weights_only=False)["embedding_net"]


def test_a_seeded_run_is_repeatable_and_resumes(tmp_path: Path) -> None:
    first, second = _train(tmp_path / "a", "--epochs", "1"), _train(tmp_path / "b", "--epochs", "1")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    a, b = _weights(tmp_path / "a" / "recognizer.pt"), _weights(tmp_path / "b" / "recognizer.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    resumed = _train(tmp_path / "a", "--epochs", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "earlier: epoch 1/1" in resumed.stdout and "epoch 2/2" in resumed.stdout
    checkpoint = torch.load(tmp_path / "a" / "recognizer.pt", weights_only=False)
    assert checkpoint["meta"]["epochs_done"] == 2 and checkpoint["train_state"]["epoch"] == 2
    after = checkpoint["embedding_net"]
    assert any(not torch.equal(a[k], after[k]) for k in a)  # the second epoch trained


def test_the_moving_average_is_kept_beside_the_weights_and_resumed(tmp_path: Path) -> None:
    run = _train(tmp_path, "--epochs", "1", "--ema", "0.5")
    assert run.returncode == 0, run.stderr
    assert "ema calib" in run.stdout                     # evaluated beside the trained weights
    first = torch.load(tmp_path / "recognizer.pt", weights_only=False)
    weights, average = first["embedding_net"], first["ema_net"]
    assert weights.keys() == average.keys()
    assert any(not torch.equal(weights[k], average[k]) for k in weights if weights[k].is_floating_point())
    resumed = _train(tmp_path, "--epochs", "2", "--ema", "0.5", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert torch.load(tmp_path / "recognizer.pt", weights_only=False)["ema_steps"] == 2 * first["ema_steps"]


@pytest.mark.timeout(240)   # two runs, one of them a larger network
def test_a_lite2_run_says_so_and_exports_as_lite2(tmp_path: Path) -> None:
    from training.export_recognizer import build_net

    run = _train(tmp_path, "--epochs", "1", "--backbone", "lite2", "--slim-final")
    assert run.returncode == 0, run.stderr
    checkpoint = torch.load(tmp_path / "recognizer.pt", weights_only=False)
    assert checkpoint["meta"]["backbone"] == "lite2" and checkpoint["meta"]["version"].startswith("lite2-gsd-64-")
    saved = checkpoint["embedding_net"]
    assert "train_state" not in checkpoint
    assert all(v.dtype == torch.float16 for v in saved.values() if v.is_floating_point())   # slim: halved
    net, meta = build_net(tmp_path / "recognizer.pt")      # the export rebuilds Lite2, not Lite0
    rebuilt = net.state_dict()
    assert rebuilt.keys() == saved.keys()
    assert all(rebuilt[k].dtype == torch.float32 for k in rebuilt if rebuilt[k].is_floating_point())
    assert all(torch.equal(rebuilt[k], v.to(rebuilt[k].dtype)) for k, v in saved.items())

    other = _train(tmp_path, "--epochs", "2", "--resume")   # resumed as the default Lite0
    assert other.returncode != 0
    assert "Traceback" not in other.stderr and "lite2" in other.stderr


def test_a_missing_dataset_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "training.train_recognizer", "--data", str(tmp_path / "nowhere"), "--epochs", "1",
         "--out", str(tmp_path / "r.pt"), "--cache", str(tmp_path / "c")],
        capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "nowhere" in done.stderr
