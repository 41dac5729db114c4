"""Measure how the text pipeline's time and peak memory grow with the number of captions.

For each size it writes a metadata file in the 25-column YFCC100M format, with URL-encoded title, description
and tags made from the tokenizer benchmark's captions. Then it runs the text pipeline on it in a fresh child
process: parse and decode each line, clean, tokenize, and count each word once per photo. It reports the child's
wall time and peak resident memory (from os.wait4, so each size is measured alone), and the time per caption.

    .venv/bin/python benchmarks/text_scaling.py --sizes 10000 100000 1000000 --out benchmarks/results/text_scaling.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote_plus

from machine import cpu_name
from tokenizer import generate_captions

from weaksup.atomic import write_json

YFCC_COLUMNS = 25


def yfcc_line(line_number: int, caption: str) -> str:
    """Return one metadata line whose title, description and tags carry `caption`."""
    words = caption.split()
    title, description, tags = " ".join(words[:4]), " ".join(words[4:]), ",".join(words[-3:])
    cells = [""] * YFCC_COLUMNS
    cells[0], cells[1], cells[2] = str(line_number), str(10_000_000 + line_number), f"{line_number:032x}"
    cells[8], cells[9], cells[10] = quote_plus(title), quote_plus(description), quote_plus(tags, safe=",")
    cells[16], cells[23], cells[24] = f"http://example.invalid/{line_number}.jpg", "jpg", "0"
    return "\t".join(cells) + "\n"


def write_metadata(path: Path, size: int, seed: int) -> None:
    captions = generate_captions(size, seed)
    with open(path, "w", encoding="utf-8") as handle:
        for number, caption in enumerate(captions):
            handle.write(yfcc_line(number, caption))


def run_pipeline(path: Path) -> dict:
    """Parse, clean, tokenize and count (document frequency) every caption of `path`: the measured work."""
    from weaksup.corpus.shards import PhotoText
    from weaksup.corpus.yfcc import ParseStats, iter_metadata
    from weaksup.text.clean import clean_text
    from weaksup.text.tokenize import tokenize

    counts: Counter[str] = Counter()
    stats = ParseStats()
    photos = 0
    for photo in iter_metadata(path, stats):
        text = PhotoText(photo.photo_id, photo.title, photo.description, list(photo.tags))
        counts.update(set(tokenize(clean_text(text.caption()))))
        photos += 1
    return {"photos": photos, "distinct_words": len(counts)}


def measure(path: Path) -> dict:
    """Run the pipeline on `path` in a child process and return its wall time and peak memory."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--child", str(path)], stdout=subprocess.PIPE, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"the pipeline failed on {path} with status {status}")
    # Linux reports ru_maxrss in KiB.
    return {**json.loads(output), "seconds": round(seconds, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000],
                        help="numbers of captions, one run each")
    parser.add_argument("--seed", type=int, default=0, help="seed of the caption generator")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/text_scaling.json"),
                        help="JSON file for the results")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--write", nargs=2, metavar=("PATH", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write_metadata(Path(args.write[0]), int(args.write[1]), args.seed)
        return 0
    if args.child:
        print(json.dumps(run_pipeline(args.child)))
        return 0

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sorted(args.sizes):
            path = Path(folder) / f"yfcc_{size}.tsv"
            # Written by another child: a forked child's peak memory counts the parent's pages until it execs, so a
            # parent that had held a million captions would inflate the measured peak.
            subprocess.run([sys.executable, __file__, "--write", str(path), str(size), "--seed", str(args.seed)],
                           check=True)
            row = {"captions": size, **measure(path)}
            row["microseconds_per_caption"] = round(1e6 * row["seconds"] / size, 1)
            print(row)
            rows.append(row)
            path.unlink()

    results = {"runs": rows, "python": sys.version.split()[0], "cpu": cpu_name(), "platform": platform.platform()}
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
