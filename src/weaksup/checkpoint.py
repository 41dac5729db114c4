"""The training checkpoint: one file, `<run_dir>/checkpoint.pt`, replaced atomically.

A checkpoint contains everything that an uninterrupted run would still have in memory. That is the model's
state_dict (trunk and head), the head's momentum buffers, the trunk optimizer and the learning-rate schedule, then
the global step, the epoch, the partial sums of the current epoch and the metrics history. It is written to a
temporary file and swapped in with `os.replace`, so a job killed while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from weaksup.atomic import atomic_open

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_VERSION = 1
REQUIRED_KEYS = ("model", "head", "optimizer", "schedule", "step", "epoch", "epoch_progress", "history", "args")


def checkpoint_path(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / CHECKPOINT_NAME


def save_checkpoint(run_dir: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write `state` (a dict with `REQUIRED_KEYS`) to `<run_dir>/checkpoint.pt` atomically and return the path."""
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {missing}")
    path = checkpoint_path(run_dir)
    with atomic_open(path, "wb") as handle:
        torch.save({"format_version": CHECKPOINT_VERSION, **state}, handle)
    log.info("saved checkpoint %s (step %d, epoch %d)", path, state["step"], state["epoch"])
    return path


def load_checkpoint(run_dir: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
    """Return the checkpoint of `run_dir`, or None when there is none (a fresh run).

    Raises ValueError when the file is of another format version or lacks a key, rather than resuming partially.
    """
    path = checkpoint_path(run_dir)
    # A job killed while writing a checkpoint leaves its temporary file (see weaksup.atomic), as large as a
    # checkpoint. Removing them is safe because nothing else writes these names, and no rank writes a checkpoint
    # before the run has loaded its own.
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
        log.info("removed %s, left by a job that was killed while writing a checkpoint", stale)
    if not path.exists():
        log.info("no checkpoint at %s: starting a new run", path)
        return None
    state = torch.load(path, map_location=map_location, weights_only=True)
    version = state.get("format_version")
    if version != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path}: checkpoint format {version!r}, expected {CHECKPOINT_VERSION}; move it away to restart"
        )
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {missing}; move it away to restart the run from scratch")
    log.info("resuming from checkpoint %s at step %d (epoch %d)", path, state["step"], state["epoch"])
    return state
