"""Training killed with SIGKILL, or failing inside a checkpoint write, resumes to the uninterrupted result."""

from __future__ import annotations

import io
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import torch

from test_train_resume import read_metrics, train_args, write_tiny_corpus
from weaksup.checkpoint import CHECKPOINT_NAME, checkpoint_path, load_checkpoint
from weaksup.models import load_model
from weaksup.train import METRICS_NAME, main

# 10 epochs of 20 steps. A step with its checkpoint took about 20 ms on one thread of a 2-core x86 VM, so the
# killed run trains for an estimated 4 s after its first checkpoint, far longer than MAX_KILL_DELAY_S.
LONG_RUN = ("--epoch-size", "320", "--max-epochs", "10", "--checkpoint-every", "1")
MAX_KILL_DELAY_S = 0.5
START_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 120.0
POLL_INTERVAL_S = 0.01
# Metrics that do not depend on timing: an interrupted run must reproduce them exactly.
EXACT_METRICS = ("epoch", "step", "lr", "next_lr", "train_loss", "train_main_loss", "validation_error")
# What a run folder may contain besides the temporary files of interrupted atomic writes.
RUN_FILES = {CHECKPOINT_NAME, METRICS_NAME, "args.json", "train.log", "model.pt"}
TEMPORARY_FILE = re.compile(r"\.(?P<target>.+)\.[^.]+\.tmp")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    return write_tiny_corpus(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    """Collect the training processes of one test, and kill any still running when it ends (after a failed assert)."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def start_training(corpus: tuple[Path, Path], run_dir: Path, *extra: str) -> subprocess.Popen:
    """Start `python -m weaksup.train` on one CPU thread, with its stderr in `<run_dir>.stderr`."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "weaksup.train", *train_args(corpus, run_dir, *extra)]
    # One thread in every run, so that float reductions happen in the same order and results can be compared bit
    # for bit.
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(f"{run_dir}.stderr", "wb") as stderr:
        return subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=stderr)


def stderr_tail(run_dir: Path) -> str:
    return Path(f"{run_dir}.stderr").read_text(errors="replace")[-3000:]


def wait_for_checkpoint(process: subprocess.Popen, run_dir: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not checkpoint_path(run_dir).exists():
        assert process.poll() is None, f"training exited with {process.returncode}:\n{stderr_tail(run_dir)}"
        assert time.monotonic() < deadline, f"no checkpoint after {START_TIMEOUT_S} s:\n{stderr_tail(run_dir)}"
        time.sleep(POLL_INTERVAL_S)


def finish(process: subprocess.Popen, run_dir: Path) -> None:
    returncode = process.wait(timeout=RUN_TIMEOUT_S)
    assert returncode == 0, stderr_tail(run_dir)


def assert_same_model(expected_path: Path, actual_path: Path) -> None:
    expected, _ = load_model(expected_path)
    actual, _ = load_model(actual_path)
    expected_state, actual_state = expected.state_dict(), actual.state_dict()
    assert list(actual_state) == list(expected_state)
    for name, tensor in expected_state.items():
        assert torch.equal(actual_state[name], tensor), name


def assert_same_metrics(expected_run: Path, actual_run: Path) -> None:
    expected, actual = read_metrics(expected_run), read_metrics(actual_run)
    assert len(actual) == len(expected)
    for key in EXACT_METRICS:
        assert [record[key] for record in actual] == [record[key] for record in expected], key


def test_sigkill_resume_bit_identical(corpus, tmp_path, processes):
    uninterrupted_dir = tmp_path / "uninterrupted"
    killed_dir = tmp_path / "killed"
    # The reference run trains alongside. With one thread each, timing does not change the results.
    uninterrupted = start_training(corpus, uninterrupted_dir, *LONG_RUN)
    process = start_training(corpus, killed_dir, *LONG_RUN)
    processes += [uninterrupted, process]
    wait_for_checkpoint(process, killed_dir)
    delay = random.uniform(0.0, MAX_KILL_DELAY_S)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    returncode = process.wait(timeout=RUN_TIMEOUT_S)
    context = f"killed {delay:.3f} s after the first checkpoint"

    assert returncode == -signal.SIGKILL, f"{context}: training ended before the kill with {returncode}"
    assert not (killed_dir / "model.pt").exists(), context
    checkpoint = load_checkpoint(killed_dir)
    assert checkpoint is not None, context
    killed_at_step = checkpoint["step"]
    assert killed_at_step > 0, context
    for name in os.listdir(killed_dir):
        match = TEMPORARY_FILE.fullmatch(name)
        assert name in RUN_FILES or (match and match["target"] in RUN_FILES), f"{context}: unexpected file {name}"
    if (killed_dir / METRICS_NAME).exists():
        assert all(record["step"] <= killed_at_step for record in read_metrics(killed_dir)), context

    # A half-written temporary checkpoint, as an atomic write killed mid-way leaves one. Resuming must ignore it.
    data = checkpoint_path(killed_dir).read_bytes()
    (killed_dir / f".{CHECKPOINT_NAME}.planted.tmp").write_bytes(data[: len(data) // 2])
    resumed = start_training(corpus, killed_dir, *LONG_RUN)
    processes.append(resumed)
    finish(resumed, killed_dir)
    finish(uninterrupted, uninterrupted_dir)

    log = (killed_dir / "train.log").read_text()
    assert f"at step {killed_at_step} (epoch" in log, f"{context}: the restart did not resume from the checkpoint"
    assert_same_model(uninterrupted_dir / "model.pt", killed_dir / "model.pt")
    assert_same_metrics(uninterrupted_dir, killed_dir)


def save_half_then_fail(real_save):
    """Return a torch.save stand-in that writes half of the serialised bytes and then fails as a full disk does."""

    def save(obj, handle, *args, **kwargs) -> None:
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        handle.flush()
        raise OSError(28, "No space left on device (simulated)")

    return save


def test_failed_checkpoint_write_keeps_previous(corpus, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    assert main(train_args(corpus, run_dir, "--max-steps", "2")) == 0
    before = load_checkpoint(run_dir)

    monkeypatch.setattr(torch, "save", save_half_then_fail(torch.save))
    with pytest.raises(OSError, match="No space left on device"):
        main(train_args(corpus, run_dir, "--checkpoint-every", "1"))
    monkeypatch.undo()

    after = load_checkpoint(run_dir)
    assert after["step"] == before["step"] == 2
    for name, tensor in before["model"].items():
        assert torch.equal(after["model"][name], tensor), name
    assert sorted(os.listdir(run_dir)) == ["args.json", CHECKPOINT_NAME, "train.log"]
    assert "training failed" in (run_dir / "train.log").read_text()


def test_failed_checkpoint_write_then_resume(corpus, tmp_path, monkeypatch):
    reference_dir = tmp_path / "reference"
    assert main(train_args(corpus, reference_dir)) == 0
    run_dir = tmp_path / "run"
    assert main(train_args(corpus, run_dir, "--max-steps", "2")) == 0

    monkeypatch.setattr(torch, "save", save_half_then_fail(torch.save))
    with pytest.raises(OSError, match="No space left on device"):
        main(train_args(corpus, run_dir))
    monkeypatch.undo()
    assert main(train_args(corpus, run_dir)) == 0

    assert_same_model(reference_dir / "model.pt", run_dir / "model.pt")
    assert_same_metrics(reference_dir, run_dir)
