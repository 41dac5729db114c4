"""GPU check: AlexNet at 224x224 under torchrun with DistributedDataParallel, on every visible GPU.

One command, a few minutes on one GPU (an estimate; the step count sets it):

    .venv/bin/python benchmarks/gpu_check.py --out benchmarks/results/gpu_check.json

It builds a demo corpus at the image size of Joulin et al. (ECCV 2016), 256x256 stored with a 224x224 crop,
with the workflow, then trains the full-width AlexNet at K = 100:
1. run A: `--steps` steps without a stop;
2. run B: the same run stopped at half the steps (`--max-steps`) and restarted from its checkpoint.
It checks that the training loss fell from the first to the last epoch, that run B resumed from its checkpoint
(its log says so, and its epochs after the stop exist), and that run B's final loss is within `--tolerance` of
run A's (a GPU run is not bit-exact: cuDNN's fastest kernels are not deterministic). It prints images per second
per run and writes them with the machine's description to `--out`.

With `--gpus 0` the same steps run on the CPU at a small size, which is how the test suite checks this script.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import cpu_name  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="gpu_check_run", help="folder for the corpus, runs and logs")
    parser.add_argument("--out", default=None, help="JSON file to write the results to (speed, losses, checks, machine)")
    parser.add_argument("--gpus", type=int, default=None, help="GPUs to use (default: every visible GPU; 0: CPU)")
    parser.add_argument("--steps", type=int, default=300, help="training steps of each run")
    parser.add_argument("--photos", type=int, default=20000, help="photos of the generated corpus")
    parser.add_argument("--image-size", type=int, default=256, help="stored image side in pixels")
    parser.add_argument("--crop", type=int, default=224, help="training crop side in pixels")
    parser.add_argument("--width", type=float, default=1.0, help="AlexNet channel factor")
    parser.add_argument("--batch-size", type=int, default=128, help="global batch size")
    parser.add_argument("--workers", type=int, default=8, help="data-loader workers per GPU")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--tolerance", type=float, default=0.1,
                        help="largest relative difference of the final loss between run A and run B")
    return parser.parse_args(argv)


def build_corpus(args: argparse.Namespace, workdir: Path) -> tuple[Path, Path]:
    """Run the workflow up to the K = 100 targets of a demo corpus of `args.photos` photos."""
    config = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    config.pop("transfer", None)
    config.pop("embeddings", None)
    config["corpus"].update(name="gpucheck", image_size=args.image_size, num_shards=8)
    config["corpus"]["demo"]["photos"] = args.photos
    config["text"]["dictionary_sizes"] = [100]
    config["training"]["crop_size"] = args.crop
    config_path = workdir / "gpu_check.yaml"
    config_path.write_text(yaml.safe_dump(config))
    targets = "data/text/gpucheck/targets_K100.npz"
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--cores", str(os.cpu_count() or 2), targets, "--configfile", str(config_path)]
    subprocess.run(command, check=True)
    return workdir / "data/corpus/gpucheck", workdir / targets


def train_command(args: argparse.Namespace, corpus: tuple[Path, Path], run_dir: Path, max_steps: int | None) -> list[str]:
    corpus_dir, targets = corpus
    steps_per_epoch = max(args.steps // 3, 1)
    train_args = [
        "--corpus-dir", str(corpus_dir), "--targets", str(targets), "--run-dir", str(run_dir),
        "--output", str(run_dir / "model.pt"), "--arch", "alexnet", "--width", str(args.width),
        "--crop-size", str(args.crop), "--batch-size", str(args.batch_size), "--lr", "0.01",
        "--epoch-size", str(steps_per_epoch * args.batch_size), "--max-epochs", "3",
        "--validation-photos", "512", "--checkpoint-every", "50", "--log-every", "50",
        "--workers", str(args.workers), "--precision", args.precision,
        "--device", "cuda" if args.gpus else "cpu",
    ]
    if args.channels_last:
        train_args.append("--channels-last")
    if max_steps is not None:
        train_args += ["--max-steps", str(max_steps)]
    if not args.gpus:
        return [sys.executable, "-m", "weaksup.train", *train_args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.gpus}",
            "-m", "weaksup.train", *train_args]


def run(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def check(args: argparse.Namespace, workdir: Path, corpus: tuple[Path, Path]) -> dict:
    run_a, run_b = workdir / "runs/uninterrupted", workdir / "runs/resumed"
    seconds_a = run(train_command(args, corpus, run_a, None))
    half = max(args.steps // 3, 1) * 3 // 2
    seconds_b = run(train_command(args, corpus, run_b, half))
    stopped = read_metrics(run_b) if (run_b / "metrics.jsonl").exists() else []
    seconds_b += run(train_command(args, corpus, run_b, None))

    metrics_a, metrics_b = read_metrics(run_a), read_metrics(run_b)
    final_a, final_b = metrics_a[-1]["train_loss"], metrics_b[-1]["train_loss"]
    results = {
        "loss_first_epoch": metrics_a[0]["train_loss"],
        "loss_last_epoch": final_a,
        "loss_fell": final_a < metrics_a[0]["train_loss"],
        "resumed_at_step": half,
        "epochs_before_stop": len(stopped),
        "epochs_after_resume": len(metrics_b) - len(stopped),
        "resumed_final_loss": final_b,
        "resume_matches": abs(final_b - final_a) <= args.tolerance * abs(final_a),
        "images_per_second": [record["images_per_second"] for record in metrics_a],
        "seconds_uninterrupted": round(seconds_a, 1),
        "seconds_resumed": round(seconds_b, 1),
        "resume_logged": "resum" in (run_b / "train.log").read_text().lower() if (run_b / "train.log").exists()
        else None,
    }
    results["passed"] = bool(results["loss_fell"] and results["resume_matches"] and results["epochs_after_resume"] > 0
                             and (run_b / "model.pt").exists())
    return results


def describe_gpus(count: int) -> list[str]:
    if not count:
        return []
    import torch

    return [torch.cuda.get_device_name(i) for i in range(count)]


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.gpus is None:
        import torch

        args.gpus = torch.cuda.device_count()
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)

    corpus = build_corpus(args, workdir)
    results = check(args, workdir, corpus)
    report = {"command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
              "gpus": describe_gpus(args.gpus), "cpu": cpu_name(), "settings": vars(args), **results}
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print("GPU check", "PASSED" if results["passed"] else "FAILED")
    return 0 if results["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
