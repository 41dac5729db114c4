"""Compare weaksup's softmax probe with scikit-learn's LogisticRegression (lbfgs) on synthetic features.

The features are Gaussian clusters: every class has a random centre in E dimensions, and every sample is its
centre plus unit Gaussian noise, so `--separation` (the norm of each centre) sets how hard the task is. Both
models are fitted on the same training rows at the same C and scored by accuracy on held-out rows. weaksup's
`fit_probe` standardises the features itself, so scikit-learn gets the same standardisation (StandardScaler, fitted
on the training rows), and both minimise C * sum_i loss_i + ||W||^2 / 2 (see `weaksup.probes`). The fits alternate
between the two, `--repeats` times, and the script reports the median fit times and their ratio.

    .venv/bin/python benchmarks/probe.py --samples 4000 --dims 4096 --classes 32 --repeats 3 \
        --out benchmarks/results/probe.json
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from machine import cpu_name
from weaksup.atomic import write_json
from weaksup.probes import ProbeData, ProbeOptions, TargetRows, fit_probe, score_probe

TEST_FRACTION = 0.25
MAX_ITERATIONS = 1000  # for both solvers



def gaussian_clusters(samples: int, dims: int, classes: int, separation: float,
                      seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return float32 features (samples, dims) and labels (samples,) drawn from `classes` Gaussian clusters.

    Centres are random directions scaled to norm `separation`, and the noise is unit Gaussian in every dimension.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dims))
    centres *= separation / np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(classes, size=samples)
    features = centres[labels] + rng.standard_normal((samples, dims))
    return features.astype(np.float32), labels


def fit_weaksup(train: ProbeData, test: ProbeData, C: float, options: ProbeOptions) -> tuple[float, float, str]:
    """Fit weaksup's softmax probe; return (fit seconds, test accuracy, stop reason)."""
    start = time.perf_counter()
    probe = fit_probe(train, C, options)
    seconds = time.perf_counter() - start
    return seconds, score_probe(probe, test, "accuracy", options), probe.fit.stop_reason


def fit_sklearn(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                C: float) -> tuple[float, float, int]:
    """Fit scikit-learn's multinomial LogisticRegression; return (fit seconds, test accuracy, iterations)."""
    start = time.perf_counter()
    scaler = StandardScaler().fit(train_x)
    model = LogisticRegression(C=C, solver="lbfgs", max_iter=MAX_ITERATIONS).fit(scaler.transform(train_x), train_y)
    seconds = time.perf_counter() - start
    accuracy = float(model.score(scaler.transform(test_x), test_y))
    return seconds, accuracy, int(np.max(model.n_iter_))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4000, help="training plus test samples")
    parser.add_argument("--dims", type=int, default=4096, help="feature dimensions E")
    parser.add_argument("--classes", type=int, default=32, help="number of classes")
    parser.add_argument("--separation", type=float, default=3.0,
                        help="norm of each class centre, in units of the per-dimension noise standard deviation")
    parser.add_argument("--C", type=float, default=0.01, help="inverse L2 regularisation strength of both models")
    parser.add_argument("--repeats", type=int, default=3, help="fits per model; the median time is reported")
    parser.add_argument("--seed", type=int, default=0, help="seed of the feature generator")
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"),
                        help="device of weaksup's probe; scikit-learn always runs on the CPU")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/probe.json"),
                        help="JSON file for the results")
    args = parser.parse_args()
    if min(args.samples, args.dims, args.classes, args.repeats) < 1 or not args.C > 0:
        raise SystemExit("--samples, --dims, --classes and --repeats must be positive integers and --C positive")

    features, labels = gaussian_clusters(args.samples, args.dims, args.classes, args.separation, args.seed)
    split = int(round(args.samples * (1 - TEST_FRACTION)))
    train = ProbeData(features[:split], TargetRows.from_labels(labels[:split], args.classes))
    test = ProbeData(features[split:], TargetRows.from_labels(labels[split:], args.classes))
    options = ProbeOptions(max_iter=MAX_ITERATIONS, device=args.device)

    seconds: dict[str, list[float]] = {"weaksup": [], "sklearn": []}
    for _ in range(args.repeats):
        weaksup_seconds, weaksup_accuracy, stop_reason = fit_weaksup(train, test, args.C, options)
        seconds["weaksup"].append(weaksup_seconds)
        sklearn_seconds, sklearn_accuracy, sklearn_iterations = fit_sklearn(
            features[:split], labels[:split], features[split:], labels[split:], args.C)
        seconds["sklearn"].append(sklearn_seconds)
    median = {name: statistics.median(values) for name, values in seconds.items()}

    results = {
        "train_samples": split,
        "test_samples": args.samples - split,
        "dims": args.dims,
        "classes": args.classes,
        "separation": args.separation,
        "C": args.C,
        "repeats": args.repeats,
        "seed": args.seed,
        "weaksup_device": args.device,
        "weaksup_accuracy": round(weaksup_accuracy, 4),
        "sklearn_accuracy": round(sklearn_accuracy, 4),
        "weaksup_seconds": round(median["weaksup"], 3),
        "sklearn_seconds": round(median["sklearn"], 3),
        "speedup": round(median["sklearn"] / median["weaksup"], 2),
        "weaksup_stop_reason": stop_reason,
        "sklearn_iterations": sklearn_iterations,
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "cpu": cpu_name(),
        "platform": platform.platform(),
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
