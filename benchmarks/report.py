"""Collect the benchmark result files into one JSON file and the page docs/benchmarks.md, goal by goal.

    .venv/bin/python benchmarks/report.py --results benchmarks/results --json docs/benchmarks.json --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

from weaksup.atomic import atomic_open, write_json

COMMANDS = {
    "tokenizer": "benchmarks/tokenizer.py",
    "last_layer": "benchmarks/last_layer.py --steps 5 --repeats 3",
    "full_step": "benchmarks/last_layer.py --full-step --steps 3 --repeats 3",
    "image_input": "benchmarks/image_input.py",
    "probe": "benchmarks/probe.py",
    "text_scaling": "benchmarks/text_scaling.py",
    "demo_stages": "benchmarks/demo_stages.py",
}


def verdict(value: float, goal: float, higher_is_better: bool = True) -> str:
    met = value >= goal if higher_is_better else value <= goal
    if met:
        return "met"
    shortfall = goal / value if higher_is_better else value / goal
    return f"missed by a factor of {shortfall:.2f}"


def tokenizer_section(result: dict) -> list[str]:
    return [
        f"- nltk: {result['nltk_captions_per_second']:,} captions/s; weaksup: {result['fast_captions_per_second']:,} "
        f"captions/s on {result['captions']:,} cleaned captions; identical tokens: {result['identical_outputs']}.",
        f"- Ratio {result['speedup']}x; goal at least 20x: {verdict(result['speedup'], 20)}.",
    ]


def last_layer_section(result: dict, full: dict | None) -> list[str]:
    lines = [f"E = {result['embedding_dim']}, batch {result['batch_size']}, device {result['device']}."]
    for name, numbers in result["timings"].items():
        lines.append(f"- {name}: full softmax {numbers['full_ms_per_step']} ms per step, sparse "
                     f"{numbers['sparse_ms_per_step']} ms, ratio {numbers['full_over_sparse']}x.")
    largest = result["timings"].get("K=100000")
    if largest:
        lines.append(f"- Goal at least 100x at K = 100,000: {verdict(largest['full_over_sparse'], 100)}.")
    if full:
        lines.append(f"Whole AlexNet training step (crop {full['crop_size']}, width {full['width']}, E = "
                     f"{full['embedding_dim']}):")
        for name, numbers in full["timings"].items():
            ratio = [value for key, value in numbers.items() if key.startswith("over_")][0]
            lines.append(f"- {name}: {numbers['ms_per_step']} ms per step ({ratio}x the first).")
        ratio = full["timings"].get("K=100000", {}).get("over_K=1000")
        if ratio is not None:
            lines.append(f"- Goal at most 1.2x at K = 100,000: {verdict(ratio, 1.2, higher_is_better=False)}.")
    return lines


def image_input_section(result: dict) -> list[str]:
    return [
        f"- {result['photos']} photos; ImageFolder + Resize(256) + CenterCrop(224) + ToTensor over "
        f"{result['mean_file_kib']} KiB JPEG files: {result['imagefolder_photos_per_second_per_core']} photos/s per core; "
        f"weaksup's shards ({result['mean_stored_kib']} KiB at 256x256) to standardised tensors: "
        f"{result['weaksup_photos_per_second_per_core']} photos/s per core.",
        f"- Ratio {result['speedup']}x; goal at least 3x: {verdict(result['speedup'], 3)}.",
    ]


def probe_section(result: dict) -> list[str]:
    gap = abs(result["weaksup_accuracy"] - result["sklearn_accuracy"]) * 100
    return [
        f"- {result['train_samples']} training samples, {result['dims']} dimensions, {result['classes']} classes: "
        f"accuracy {100 * result['weaksup_accuracy']:.2f} (weaksup) against {100 * result['sklearn_accuracy']:.2f} "
        f"(scikit-learn lbfgs); fit {result['weaksup_seconds']} s against {result['sklearn_seconds']} s.",
        f"- Accuracy within one point: {'met' if gap <= 1 else f'missed ({gap:.2f} points)'}; "
        f"speed ratio {result['speedup']}x, goal at least 5x: {verdict(result['speedup'], 5)}.",
    ] + (probe_miss_reason(result) if result["speedup"] < 5 else [])


def probe_miss_reason(result: dict) -> list[str]:
    reason = (f"- Why: the probe stops at max |gradient| 1e-5 in float64 ({result.get('weaksup_stop_reason', '')}), "
              f"while scikit-learn stops at its default tol 1e-4 ({result.get('sklearn_iterations', '?')} iterations).")
    if result.get("weaksup_device") == "cpu":
        reason += " The probe is built for ImageNet-size features on a GPU; this run used the CPU."
    return [reason]


def text_scaling_section(result: dict) -> list[str]:
    lines = []
    for run in result["runs"]:
        lines.append(f"- {run['captions']:,} captions: {run['seconds']} s ({run['microseconds_per_caption']} µs per "
                     f"caption), peak memory {run['peak_rss_mib']} MiB, {run['distinct_words']:,} distinct words.")
    first, last = result["runs"][0], result["runs"][-1]
    growth = last["peak_rss_mib"] / first["peak_rss_mib"]
    per_caption = [run["microseconds_per_caption"] for run in result["runs"][-2:]]
    lines.append(f"- Time per caption between the two largest runs: {per_caption[0]} and {per_caption[-1]} µs "
                 "(the smallest run is dominated by the child process's start).")
    lines.append(f"- Peak memory grew {growth:.2f}x over {last['captions'] / first['captions']:.0f}x more captions; "
                 f"goal bounded (less than {MAX_MEMORY_GROWTH}x growth): "
                 f"{'met' if growth < MAX_MEMORY_GROWTH else 'missed'}.")
    lines.append("- The generator's vocabulary is small (a few hundred words), so this shows that parsing, cleaning "
                 "and tokenizing hold no per-caption state; the word counts of a real corpus grow with its vocabulary.")
    return lines


def demo_section(result: dict) -> list[str]:
    lines = [
        f"From the benchmark files of a finished `make demo` ({result['benchmarks']}): seconds are summed over the",
        "stage's jobs, and Snakemake runs two jobs at once on 2 cores, so a stage's sum can exceed its wall time.",
        "",
        "| stage | jobs | seconds (sum) | peak memory (MB) | slowest job |",
        "|---|---|---|---|---|",
    ]
    for row in result["stages"]:
        lines.append(f"| {row['stage']} | {row['jobs']} | {row['seconds']} | {row['peak_rss_mb']} | "
                     f"{row['slowest_job']} ({row['slowest_job_seconds']} s) |")
    return lines


# Peak memory may grow this much between the smallest and the largest text run and still count as bounded.
MAX_MEMORY_GROWTH = 1.5

SECTIONS = [
    ("tokenizer", "1. Tokenizer against nltk's TreebankWordTokenizer", tokenizer_section),
    ("last_layer", "2. Last layer: sparse update against the full softmax", None),
    ("image_input", "3. Image input against torchvision's ImageFolder pipeline", image_input_section),
    ("probe", "4. Logistic-regression probe against scikit-learn", probe_section),
    ("text_scaling", "5. Scaling of the text pipeline", text_scaling_section),
    ("demo_stages", "6. The demo's stages", demo_section),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"), help="folder of result files")
    parser.add_argument("--json", type=Path, default=Path("docs/benchmarks.json"), help="combined JSON file")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"), help="Markdown page")
    args = parser.parse_args()

    results = {}
    for name in COMMANDS:
        path = args.results / f"{name}.json"
        if path.exists():
            results[name] = json.loads(path.read_text(encoding="utf-8"))
    machine = next(iter(results.values()), {})
    today = datetime.date.today().isoformat()

    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {today}, on {os.cpu_count()} cores of {machine.get('cpu', 'an unknown CPU')} "
        f"({machine.get('platform', '')}).",
        "Each figure is a ratio of two methods timed side by side in one run, the median of repeats. Shared machines",
        "are noisy, so a ratio close to its goal can land on either side from one run to the next. The combined",
        "results are in `docs/benchmarks.json`. Rerun with `make bench`.",
        "",
    ]
    for name, title, section in SECTIONS:
        lines += [f"## {title}", "", f"Command: `.venv/bin/python {COMMANDS[name]}`", ""]
        if name not in results:
            hint = " Run `make demo` first." if name == "demo_stages" else ""
            lines += [f"Not measured in this run.{hint}", ""]
            continue
        if name == "last_layer":
            lines += last_layer_section(results[name], results.get("full_step"))
        else:
            lines += section(results[name])
        lines.append("")

    write_json(args.json, {"date": today, **results})
    with atomic_open(args.out, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    print(f"wrote {args.out} and {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
