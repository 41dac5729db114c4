"""`results/SUMMARY.md`: the headline numbers of a run on one page, read from its result tables."""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import Any, Mapping

from weaksup.atomic import atomic_open

log = logging.getLogger(__name__)


def _read(path: str | os.PathLike | None) -> list[dict[str, str]]:
    if not path or not Path(path).exists():
        return []
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _paper_note(row: Mapping[str, str], column: str) -> str:
    paper = row.get(f"paper_{column}")
    return f" (paper: {paper}, difference {row.get(f'{column}_minus_paper')})" if paper else ""


def _word_prediction(rows: list[dict[str, str]]) -> list[str]:
    lines = ["## Word prediction (Table 1)", "", "precision@10 on the test split, in percent:", ""]
    for k in sorted({int(row["K"]) for row in rows}):
        at_k = [row for row in rows if int(row["K"]) == k and row.get("size_sweep") != "True"]
        for row in at_k:
            lines.append(f"- K = {k:,}, {row['model']}{' (' + row['loss'] + ')' if row['loss'] else ''}: "
                         f"{row['precision@10']}{_paper_note(row, 'precision@10')}")
    return lines + [""]


def _transfer(table3: list[dict[str, str]], table2: list[dict[str, str]]) -> list[str]:
    lines = ["## Transfer learning (Tables 2 and 3)", "",
             "Test accuracy in percent, mean ± standard deviation over the runs of each dataset (the `runs` column of "
             "Table 3), for the networks trained on the whole training split and the baselines:", ""]
    for dataset in sorted({row["dataset"] for row in table3}):
        rows = [row for row in table3 if row["dataset"] == dataset]
        # The size sweep's smaller networks are in the table and Figure 5; here only full-size networks.
        largest = max((int(row["train_photos"]) for row in rows if row["kind"] == "flickr"), default=None)
        cells = [f"{row['features']} {row['accuracy_mean']} ± {row['accuracy_std']}" for row in rows
                 if row["kind"] != "flickr" or int(row["train_photos"]) == largest]
        lines.append(f"- {dataset}: " + "; ".join(cells))
    voc = [row for row in table2 if row.get("ap_definition") == "voc07_11point"]
    largest = max((int(row["train_photos"]) for row in voc if row["kind"] == "flickr"), default=None)
    voc = [row for row in voc if row["kind"] != "flickr" or int(row["train_photos"]) == largest]
    if voc:
        lines += ["", f"Mean AP (VOC 2007 11-point) on {voc[0]['dataset']}: "
                  + "; ".join(f"{row['features']} {row['mAP_mean']} ± {row['mAP_std']}" for row in voc)]
    return lines + [""]


def _embeddings(table4: list[dict[str, str]], table6: list[dict[str, str]]) -> list[str]:
    lines = ["## Word embeddings (Tables 4 to 7)", ""]
    for row in table4:
        accuracy = f"{row['total_accuracy']}% on the {row['total_kept']} kept questions" if row["total_accuracy"] \
            else "no question kept"
        lines.append(f"- Analogies, {row['source']}: {accuracy} ({row['total_dropped']} dropped)")
    for row in table6:
        lines.append(f"- Translation {row['direction']}, {row['source']}: precision@1 {row['precision@1']}% against "
                     f"chance {row['chance@1']}% over {row['pairs']} pairs{_paper_note(row, 'pairs')}")
    return lines + [""]


def write_summary(out_md: str | os.PathLike, corpus_description: str, tables: Mapping[str, Any],
                  facts: list[dict[str, str]] | None = None) -> None:
    """Write the summary page from the result CSVs named in `tables` (absent tables are left out)."""
    stats = _read(tables.get("corpus_stats"))
    lines = ["# Run summary", "", f"Corpus: {corpus_description}.", ""]
    if stats:
        first = stats[0]
        lines += [f"{int(first['photos']):,} photos: {int(first['train_photos']):,} training, "
                  f"{int(first['validation_photos']):,} validation, {int(first['test_photos']):,} test. "
                  "Average dictionary words per photo: "
                  + ", ".join(f"{row['avg_targets_per_photo']} at K = {int(row['K']):,}"
                              f"{_paper_note(row, 'avg_targets_per_photo')}" for row in stats) + ".", ""]
    table1 = _read(tables.get("table1"))
    if table1:
        lines += _word_prediction(table1)
    table3, table2 = _read(tables.get("table3")), _read(tables.get("table2"))
    if table3 or table2:
        lines += _transfer(table3, table2)
    table4, table6 = _read(tables.get("table4")), _read(tables.get("table6"))
    if table4 or table6:
        lines += _embeddings(table4, table6)
    if facts:
        lines += ["## Reference values stated in the paper (YFCC100M)", ""]
        lines += [f"- {fact['text']}: {fact['value']} ({fact['source']})" for fact in facts]
        lines.append("")
    lines += ["Every table is in `results/` with a `corpus_description` column; `results/report.html` "
              "(`snakemake --report`) has all tables and figures with captions.", ""]
    with atomic_open(out_md, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    log.info("wrote %s (%d lines)", out_md, len(lines))
