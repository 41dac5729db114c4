"""Summarise the wall time and peak memory of each stage of a finished demo run from its `benchmark:` files.

Snakemake writes one TSV per benchmarked job under `logs/<corpus>/benchmarks/<stage>/` (seconds `s` and peak
resident memory `max_rss` in MB). This script sums the seconds and takes the largest peak per stage, so it
measures nothing itself: run `make demo` first, with nothing else on the machine.

    .venv/bin/python benchmarks/demo_stages.py --benchmarks logs/demo/benchmarks --out benchmarks/results/demo_stages.json
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
from pathlib import Path

from machine import cpu_name

from weaksup.atomic import write_json


def read_stages(folder: Path) -> list[dict]:
    """Return one row per stage folder: job count, summed seconds, largest peak memory and the slowest job."""
    rows = []
    for stage in sorted(path for path in folder.iterdir() if path.is_dir()):
        jobs = []
        for path in sorted(stage.rglob("*.tsv")):
            with open(path, encoding="utf-8", newline="") as handle:
                record = next(csv.DictReader(handle, delimiter="\t"))
            jobs.append((path.stem, float(record["s"]), float(record["max_rss"])))
        if not jobs:
            continue
        slowest = max(jobs, key=lambda job: job[1])
        rows.append({
            "stage": stage.name,
            "jobs": len(jobs),
            "seconds": round(sum(job[1] for job in jobs), 1),
            "peak_rss_mb": round(max(job[2] for job in jobs), 1),
            "slowest_job": slowest[0],
            "slowest_job_seconds": round(slowest[1], 1),
        })
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", type=Path, default=Path("logs/demo/benchmarks"),
                        help="benchmark folder of a finished run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/demo_stages.json"),
                        help="JSON file for the results")
    args = parser.parse_args()
    if not args.benchmarks.is_dir():
        print(f"{args.benchmarks} not found: run `make demo` first", file=sys.stderr)
        return 1

    stages = read_stages(args.benchmarks)
    for row in stages:
        print(row)
    write_json(args.out, {"benchmarks": str(args.benchmarks), "stages": stages, "cpu": cpu_name(),
                          "platform": platform.platform()})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
