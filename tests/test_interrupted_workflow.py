"""Snakemake killed while a training job runs, then restarted: finished jobs stay done, training resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from test_workflow import ROOT, snakemake, tiny_config
from weaksup.checkpoint import load_checkpoint

TARGETS = "data/text/tiny/targets_K20.npz"
MODEL_RUN = "data/models/tiny/alexnet-K20-multiclass-nall"
MODEL = f"{MODEL_RUN}/model.pt"
TRAIN_LOG = "logs/tiny/train/alexnet-K20-multiclass-nall.log"
# 10 steps of 128 images per epoch, 3 epochs: the training job outlives the kill by a few seconds.
EPOCH_SIZE = 1280
MAX_EPOCHS = 3
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.05


def write_config(tmp_path: Path) -> Path:
    config = tiny_config()
    config["training"].update(epoch_size=EPOCH_SIZE, max_epochs=MAX_EPOCHS)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def output_times(root: Path) -> dict[str, int]:
    """Return the modification time in ns of every file under root/data, by relative path."""
    files = [path for path in (root / "data").rglob("*") if path.is_file()]
    return {str(path.relative_to(root)): path.stat().st_mtime_ns for path in files}


def start_snakemake(tmp_path: Path, config_path: Path, target: str) -> subprocess.Popen:
    """Start Snakemake in its own process group, so that one signal reaches it and every job it started."""
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
               "--cores", "2", target, "--configfile", str(config_path)]
    with open(tmp_path / "killed_snakemake.out", "wb") as output:
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_checkpoint_log(process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (log.exists() and "saved checkpoint" in log.read_text(errors="replace")):
        assert process.poll() is None, f"Snakemake exited with {process.returncode} before training checkpointed"
        assert time.monotonic() < deadline, f"no checkpoint in {log} after {START_TIMEOUT_S} s"
        time.sleep(POLL_INTERVAL_S)


def signal_process_group(process: subprocess.Popen, signal_number: int) -> None:
    """Send a signal to the group of `process` (Snakemake and its jobs) and wait until none of them is left."""
    os.killpg(process.pid, signal_number)
    process.wait(timeout=STOP_TIMEOUT_S)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(POLL_INTERVAL_S)
    raise AssertionError(f"processes of group {process.pid} still run {STOP_TIMEOUT_S} s after {signal_number!r}")


def job_counts(output: str) -> dict[str, int]:
    """Return the `Job stats:` table that Snakemake prints before it runs jobs, as {rule: count}."""
    lines = output.split("Job stats:\n", 1)[1].splitlines()
    counts = {}
    # The table is a header, a rule of dashes, then one `rule count` line per rule and a total, up to a blank line.
    for line in lines[2:]:
        if not line.strip():
            break
        rule, count = line.split()
        counts[rule] = int(count)
    return counts


def interrupt_training(tmp_path: Path, signal_number: int) -> tuple[Path, dict[str, int], int]:
    """Build the targets, start the training job and interrupt Snakemake once training has a checkpoint.

    Return the config path, the modification times of the outputs built before, and the checkpoint's step.
    """
    config_path = write_config(tmp_path)
    first = snakemake(tmp_path, config_path, TARGETS)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    before = output_times(tmp_path)

    process = start_snakemake(tmp_path, config_path, MODEL)
    try:
        wait_for_checkpoint_log(process, tmp_path / TRAIN_LOG)
    except AssertionError:
        # Snakemake and its jobs must not outlive a failed test.
        signal_process_group(process, signal.SIGKILL)
        raise
    signal_process_group(process, signal_number)

    assert not (tmp_path / MODEL).exists(), "the model file exists although training was interrupted"
    checkpoint = load_checkpoint(tmp_path / MODEL_RUN / "run")
    assert checkpoint is not None
    assert checkpoint["step"] > 0
    return config_path, before, checkpoint["step"]


def check_restart(tmp_path: Path, config_path: Path, before: dict[str, int], step: int) -> None:
    """Restart with --rerun-incomplete and check that only training ran, resumed from `step`, and finished."""
    restart = snakemake(tmp_path, config_path, MODEL, "--rerun-incomplete")
    output = restart.stdout + restart.stderr
    assert restart.returncode == 0, output[-3000:]
    assert job_counts(output) == {"train": 1, "total": 1}
    after = output_times(tmp_path)
    for path, mtime in before.items():
        assert after[path] == mtime, f"{path} was rewritten by the restart"
    assert (tmp_path / MODEL).exists()
    assert f"at step {step} (epoch" in (tmp_path / TRAIN_LOG).read_text()
    metrics = (tmp_path / MODEL_RUN / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == MAX_EPOCHS

    rerun = snakemake(tmp_path, config_path, MODEL, "-n")
    assert "Nothing to be done" in rerun.stdout + rerun.stderr


@pytest.mark.slow
def test_sigkill_then_unlock_and_resume(tmp_path):
    config_path, before, step = interrupt_training(tmp_path, signal.SIGKILL)

    # A killed Snakemake leaves its lock behind, and a restart stops until --unlock removes it.
    locked = snakemake(tmp_path, config_path, MODEL, "--rerun-incomplete")
    assert locked.returncode != 0
    assert "--unlock" in locked.stdout + locked.stderr
    unlocked = snakemake(tmp_path, config_path, "--unlock")
    assert unlocked.returncode == 0, unlocked.stderr[-3000:]
    check_restart(tmp_path, config_path, before, step)


@pytest.mark.slow
def test_sigint_then_resume(tmp_path):
    config_path, before, step = interrupt_training(tmp_path, signal.SIGINT)

    check_restart(tmp_path, config_path, before, step)
