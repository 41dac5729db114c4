"""Turn the workflow's training config into a `weaksup.train` command line, and run it on CPU or under torchrun."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

log = logging.getLogger(__name__)

# Lock files that give concurrent GPU jobs of one node distinct devices (see weaksup.gpus).
GPU_LOCK_DIR = os.environ.get("WEAKSUP_GPU_LOCK_DIR", ".snakemake/gpu-locks")
# TCP port of the torchrun rendezvous on the first node of a multi-node job.
RENDEZVOUS_PORT = 29400

# Config keys of `training` that map one-to-one to `weaksup.train` options.
_SHARED_OPTIONS = (
    "crop_size", "batch_size", "lr", "momentum", "weight_decay", "epoch_size",
    "min_epochs_per_rate", "min_lr", "max_epochs", "validation_photos", "checkpoint_every", "seed",
    "precision", "prefetch_factor",
)
# Config switches that become a bare command-line flag when true.
_FLAG_OPTIONS = ("channels_last", "deterministic")


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
    for key in _FLAG_OPTIONS:
        if training.get(key):
            argv.append(f"--{key.replace('_', '-')}")
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
    from weaksup.gpus import reserve_gpus

    with reserve_gpus(gpus, GPU_LOCK_DIR) as devices:
        environment = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(devices)}
        command = torchrun_command(gpus, python, environment) + ["-m", "weaksup.train", *argv, "--log-file", log_file]
        log.info("launching on GPUs %s: %s", environment["CUDA_VISIBLE_DEVICES"], " ".join(command))
        subprocess.run(command, check=True, env=environment)


def torchrun_command(gpus: int, python: str, environment: dict[str, str]) -> list[str]:
    """Return the launcher of `gpus` processes per node: torchrun on one node, or srun + torchrun on each node of
    a multi-node SLURM allocation, meeting at the allocation's first host."""
    nodes = int(environment.get("SLURM_JOB_NUM_NODES", "1") or 1)
    torchrun = [python, "-m", "torch.distributed.run", f"--nproc_per_node={gpus}"]
    if nodes <= 1:
        return [*torchrun, "--standalone"]
    first_host = environment.get("SLURM_LAUNCH_NODE_IPADDR") or _first_host(environment["SLURM_JOB_NODELIST"])
    job_id = environment.get("SLURM_JOB_ID", "weaksup")
    return ["srun", f"--nodes={nodes}", "--ntasks-per-node=1", *torchrun, f"--nnodes={nodes}",
            "--rdzv_backend=c10d", f"--rdzv_endpoint={first_host}:{RENDEZVOUS_PORT}", f"--rdzv_id={job_id}"]


def _first_host(nodelist: str) -> str:
    """Return the first host name of a SLURM node list such as "gpu[03-05,07],cpu01"."""
    output = subprocess.run(["scontrol", "show", "hostnames", nodelist], check=True, capture_output=True, text=True)
    return output.stdout.split()[0]
