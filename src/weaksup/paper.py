"""The paper's numbers beside ours: `config/paper_results.yaml` and the columns it adds to the result tables.

Joulin et al. (ECCV 2016) report results on YFCC100M. A table row gets the paper's value and the difference only
when it comes from a corpus of the paper's source (yfcc100m) and matches an entry's row description. Every row
gets a `corpus_description` column that names the corpus and scale that produced it.
"""

from __future__ import annotations

import csv
import logging
import os
from typing import Any

import yaml

from weaksup.tables import write_rows

log = logging.getLogger(__name__)

DESCRIPTION_COLUMN = "corpus_description"


def load_paper_results(path: str | os.PathLike) -> dict[str, Any]:
    """Read the paper results file and check that every entry names a table, a row, a column and a value."""
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    for number, entry in enumerate(data.get("results", [])):
        missing = [key for key in ("table", "match", "column", "value", "source") if key not in entry]
        if missing:
            raise ValueError(f"{path}: results[{number}] lacks {missing}; each entry needs table, match, column, "
                             "value and source")
    return data


def _matches(row: dict[str, str], match: dict[str, Any]) -> bool:
    return all(str(row.get(column, "")) == str(value) for column, value in match.items())


def annotate_table(csv_path: str | os.PathLike, table: str, paper: dict[str, Any], corpus_source: str,
                   corpus_description: str) -> int:
    """Add the corpus description to every row of a result CSV and, on the paper's corpus, the paper's value and
    our value minus it to the rows that an entry of `paper` matches. Rewrites the file; returns the rows matched."""
    with open(csv_path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = list(reader)

    for row in rows:
        row[DESCRIPTION_COLUMN] = corpus_description
    if DESCRIPTION_COLUMN not in columns:
        position = columns.index("corpus") + 1 if "corpus" in columns else 0
        columns.insert(position, DESCRIPTION_COLUMN)

    matched = 0
    entries = [entry for entry in paper.get("results", []) if entry["table"] == table]
    if corpus_source == paper.get("corpus"):
        for entry in entries:
            column, value = entry["column"], float(entry["value"])
            for row in rows:
                if not _matches(row, entry["match"]) or column not in row:
                    continue
                ours = row[column]
                row[f"paper_{column}"] = value
                row[f"{column}_minus_paper"] = round(float(ours) - value, 4) if ours not in ("", None) else ""
                for name in (f"paper_{column}", f"{column}_minus_paper"):
                    if name not in columns:
                        columns.insert(columns.index(column) + 1 + (name.endswith("_minus_paper")), name)
                matched += 1
    write_rows(rows, csv_path, columns)
    log.info("%s: %d rows; %d cells compared with the paper (%s)", csv_path, len(rows), matched,
             "paper corpus" if corpus_source == paper.get("corpus") else f"corpus source {corpus_source}, no "
             "paper values apply")
    return matched
