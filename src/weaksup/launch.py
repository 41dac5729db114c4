"""Turn the workflow's training config into a `weaksup.train` command line, and run it on CPU or under torchrun."""

from __future__ import annotations

import logging
import subprocess
import sys

log = logging.getLogger(__name__)

# Config keys of `training` that map one-to-one to `weaksup.train` options.
_SHARED_OPTIONS = (
    "crop_size", "batch_size", "lr", "momentum", "weight_decay", "epoch_size",
    "min_epochs_per_rate", "min_lr", "max_epochs", "validation_photos", "checkpoint_every", "seed",
)


def train_argv(training: dict, model_options: dict, arch: str, loss: str, corpus_dir: str, targets: str,
               dictionary: str | None, train_subset: str | None, run_dir: str, output: str, workers: int,
               device: str) -> list[str]:
    """Build the argument list of `weaksup.train` for one model of the workflow."""
    argv = ["--arch", arch, "--loss", loss, "--corpus-dir", corpus_dir, "--targets", targets,
            "--run-dir", run_dir, "--output", output, "--workers", str(workers), "--device", device]
    if dictionary:
        argv += ["--dictionary", dictionary]
    if train_subset:
        argv += ["--train-subset", train_subset]
    for key in _SHARED_OPTIONS:
        if training.get(key) is not None:
            argv += [f"--{key.replace('_', '-')}", str(training[key])]
    for key, value in sorted(model_options.items()):
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


def run_training(argv: list[str], gpus: int, log_file: str, python: str = sys.executable, threads: int = 1) -> None:
    """Run training in this process on the CPU with `threads` torch threads, or as `gpus`
    DistributedDataParallel processes under torchrun."""
    if gpus <= 0:
        import torch

        from weaksup.train import main

        # Snakemake gives the job `threads` cores; torch would otherwise start one thread per core of the machine,
        # and parallel jobs would then oversubscribe the CPU.
        torch.set_num_threads(max(threads, 1))
        main(argv + ["--log-file", log_file])
        return
    command = [python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
               "-m", "weaksup.train", *argv, "--log-file", log_file]
    log.info("launching %s", " ".join(command))
    subprocess.run(command, check=True)
