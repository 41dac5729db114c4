"""Time one SGD step of the last layer: weaksup's sparse softmax head against a full softmax layer.

The sparse head (`weaksup.losses.SampledSoftmaxHead`) computes the softmax over the batch's words only and updates
only their rows. The baseline is an `nn.Linear(E, K)` with cross-entropy over all K words and a `torch.optim.SGD`
step. Both get the same random penultimate features (which require a gradient, as they do in training) and the
same words, drawn uniformly from the K words. The timed runs alternate between the two layers, so a change of
machine load affects both alike. Joulin et al. (ECCV 2016) report 1,600 ms per batch for the full last layer at
K = 100,000 against 400 ms for the rest of AlexNet.

`--full-step` times instead a whole AlexNet training step (trunk, sparse head, both updates) at each K of
`--full-ks` and reports each time relative to the first.

NOTE: only the CPU path has been run so far. The CUDA timings rely on `torch.cuda.synchronize` around each run.

    .venv/bin/python benchmarks/last_layer.py --device cuda --repeats 5 --out benchmarks/results/last_layer.json
    .venv/bin/python benchmarks/last_layer.py --full-step --device cuda --out benchmarks/results/full_step.json
    .venv/bin/python benchmarks/last_layer.py --full-step --crop-size 64 --width 0.25 --embedding-dim 512 --steps 2
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from machine import cpu_name
from weaksup.atomic import write_json
from weaksup.losses import SampledSoftmaxHead
from weaksup.models import build_model
from weaksup.train import resolve_device

LEARNING_RATE = 0.1
WARMUP_STEPS = 2



def environment(device: torch.device) -> dict[str, object]:
    """Return the software and hardware that a result was measured on."""
    return {
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cpu": cpu_name(),
        "platform": platform.platform(),
    }


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_alternating(steps: dict[str, Callable[[], None]], count: int, repeats: int,
                     device: torch.device) -> dict[str, float]:
    """Return the median milliseconds per call of each step function, over `repeats` runs of `count` calls.

    Each function first runs WARMUP_STEPS untimed calls. The timed runs then alternate between the functions.
    """
    for step in steps.values():
        for _ in range(WARMUP_STEPS):
            step()
    _synchronize(device)

    milliseconds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            _synchronize(device)
            start = time.perf_counter()
            for _ in range(count):
                step()
            _synchronize(device)
            milliseconds[name].append(1000 * (time.perf_counter() - start) / count)
    return {name: statistics.median(values) for name, values in milliseconds.items()}


def last_layer_steps(num_classes: int, embedding_dim: int, batch_size: int,
                     device: torch.device) -> dict[str, Callable[[], None]]:
    """Return a sparse-head step and a full-softmax step on fixed random features and uniform random words."""
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(batch_size, embedding_dim, generator=generator).to(device).requires_grad_()
    words = torch.randint(num_classes, (batch_size,), generator=generator).to(device)

    sparse_layer = nn.Linear(embedding_dim, num_classes).to(device)
    head = SampledSoftmaxHead(sparse_layer)
    full_layer = nn.Linear(embedding_dim, num_classes).to(device)
    optimizer = torch.optim.SGD(full_layer.parameters(), lr=LEARNING_RATE)

    def sparse_step() -> None:
        features.grad = None
        head.loss(features, words).backward()
        head.step(LEARNING_RATE)

    def full_step() -> None:
        features.grad = None
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(full_layer(features), words).backward()
        optimizer.step()

    return {"sparse": sparse_step, "full": full_step}


def alexnet_step(num_classes: int, args: argparse.Namespace, device: torch.device) -> Callable[[], None]:
    """Return one AlexNet training step (trunk forward, sparse head, backward, both SGD updates) on random images."""
    model = build_model("alexnet", num_classes, width=args.width, embedding_dim=args.embedding_dim).to(device)
    model.train()
    trunk = model.trunk()
    head = SampledSoftmaxHead(model.head)
    optimizer = torch.optim.SGD(trunk.parameters(), lr=LEARNING_RATE)

    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch_size, 3, args.crop_size, args.crop_size, generator=generator).to(device)
    words = torch.randint(num_classes, (args.batch_size,), generator=generator).to(device)

    def step() -> None:
        loss = head.loss(trunk(images).features, words)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        head.step(LEARNING_RATE)
        optimizer.step()

    return step


def compare_last_layers(args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    results: dict[str, object] = {}
    for num_classes in args.ks:
        steps = last_layer_steps(num_classes, args.embedding_dim, args.batch_size, device)
        milliseconds = time_alternating(steps, args.steps, args.repeats, device)
        results[f"K={num_classes}"] = {
            "sparse_ms_per_step": round(milliseconds["sparse"], 3),
            "full_ms_per_step": round(milliseconds["full"], 3),
            "full_over_sparse": round(milliseconds["full"] / milliseconds["sparse"], 2),
        }
        del steps
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return results


def compare_full_steps(args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    steps = {f"K={num_classes}": alexnet_step(num_classes, args, device) for num_classes in args.full_ks}
    milliseconds = time_alternating(steps, args.steps, args.repeats, device)
    reference = next(iter(milliseconds))
    return {
        name: {"ms_per_step": round(value, 3), f"over_{reference}": round(value / milliseconds[reference], 3)}
        for name, value in milliseconds.items()
    }


def _int_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", type=_int_list, default=[10_000, 100_000],
                        help="dictionary sizes K of the last-layer comparison, comma-separated")
    parser.add_argument("--embedding-dim", type=int, default=4096, help="penultimate feature size E")
    parser.add_argument("--batch-size", type=int, default=128, help="photos per step")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per layer; the median is reported")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="compute device")
    parser.add_argument("--full-step", action="store_true",
                        help="time whole AlexNet training steps at each K of --full-ks instead of the last layer")
    parser.add_argument("--full-ks", type=_int_list, default=[1_000, 100_000],
                        help="dictionary sizes of --full-step, comma-separated; times are relative to the first")
    parser.add_argument("--crop-size", type=int, default=224, help="input image side in pixels (--full-step)")
    parser.add_argument("--width", type=float, default=1.0, help="AlexNet channel width factor (--full-step)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/last_layer.json"),
                        help="JSON file for the results")
    return parser


def main() -> int:
    args = build_parser().parse_args()
    if args.steps < 1 or args.repeats < 1:
        raise SystemExit(f"--steps and --repeats must be positive, got {args.steps} and {args.repeats}")
    device = resolve_device(args.device, 0)
    torch.manual_seed(0)

    mode = "full_step" if args.full_step else "last_layer"
    timings = compare_full_steps(args, device) if args.full_step else compare_last_layers(args, device)
    settings = {key: getattr(args, key) for key in ("embedding_dim", "batch_size", "steps", "repeats")}
    if args.full_step:
        settings.update(crop_size=args.crop_size, width=args.width)
    results = {"mode": mode, **settings, "timings": timings, **environment(device)}

    for key, value in results.items():
        if key == "timings":
            for name, numbers in value.items():
                print(f"{name}: " + ", ".join(f"{field} {number}" for field, number in numbers.items()))
        else:
            print(f"{key}: {value}")
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
