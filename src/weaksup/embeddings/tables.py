"""Tables 4 to 7 of Joulin et al. (ECCV 2016) from the per-embedding result files of `weaksup.embeddings.evaluate`.

- Table 4: analogy accuracy (semantic, syntactic, total) in percent, with the questions kept and dropped.
- Table 5: Spearman correlation per similarity set, with the pairs kept and dropped.
- Table 6: translation precision@k in percent for English->French and French->English, chance@k beside it.
- Table 7: the ten English-French pairs of highest cosine similarity, and whether the dictionary lists them.

Every row starts with the embedding source of its result file: corpus, source (the network name or "word2vec"),
kind, arch, K and loss. Rows are sorted by K, then source. A result file without the part that a table needs
adds no row to that table, and the writer logs how many files it skipped.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable, Sequence

from weaksup.embeddings.evaluate import check_source
from weaksup.tables import write_rows

log = logging.getLogger(__name__)

SOURCE_COLUMNS = ("corpus", "source", "kind", "arch", "K", "loss")
ANALOGY_PARTS = ("semantic", "syntactic", "total")
TABLE4_COLUMNS = (*SOURCE_COLUMNS, *(f"{part}_accuracy" for part in ANALOGY_PARTS),
                  *(f"{part}_{count}" for part in ANALOGY_PARTS for count in ("kept", "dropped")))
TABLE5_COLUMNS = (*SOURCE_COLUMNS, "similarity_set", "spearman", "pairs", "kept", "dropped")
TABLE6_LEADING_COLUMNS = (*SOURCE_COLUMNS, "direction", "pairs", "queries", "candidates", "candidate_set")
TABLE7_COLUMNS = (*SOURCE_COLUMNS, "rank", "english", "french", "cosine", "correct")
DIRECTIONS = {"en_fr": "en->fr", "fr_en": "fr->en"}
# Spearman correlation and cosine similarity stay in [-1, 1], so they keep more decimals than the percentages.
CORRELATION_DECIMALS = 4


def read_embedding_result(path: str | os.PathLike) -> dict[str, Any]:
    """Read a result file of `write_embedding_result`; raise ValueError if `source` or `corpus` is missing."""
    with open(path, encoding="utf-8") as handle:
        result = json.load(handle)
    for key in ("source", "corpus"):
        if key not in result:
            raise ValueError(f"{path} has no {key!r}; it is not a result file of weaksup.embeddings.evaluate")
    try:
        check_source(result["source"])
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return result


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, CORRELATION_DECIMALS)


def _source_cells(result: dict[str, Any]) -> dict[str, Any]:
    source = result["source"]
    return {"corpus": result["corpus"], "source": source["name"], "kind": source["kind"],
            "arch": source["arch"] or "", "K": source["K"], "loss": source["loss"] or ""}


def _sort_key(row: dict[str, Any]) -> tuple:
    return (row["K"], row["source"], row["kind"], row["arch"], row["loss"])


def _collect_rows(
    result_paths: Sequence[str | os.PathLike], part: str, table: str,
    rows_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Read each result file and return the rows that `rows_of` makes of it, skipping files without `part`."""
    rows: list[dict[str, Any]] = []
    skipped = []
    for path in result_paths:
        result = read_embedding_result(path)
        if not result.get(part):
            skipped.append(str(path))
            continue
        rows += [{**_source_cells(result), **row} for row in rows_of(result)]
    if skipped:
        log.warning("%s: %d of %d result files have no %s part and add no row: %s", table, len(skipped),
                    len(result_paths), part, skipped)
    # Stable sort, so rows of one result keep their order (similarity sets, directions, ranks).
    rows.sort(key=_sort_key)
    return rows


def _analogy_row(result: dict[str, Any]) -> list[dict[str, Any]]:
    analogies = result["analogies"]
    row = {f"{part}_accuracy": _percent(analogies[part]["accuracy"]) for part in ANALOGY_PARTS}
    for part in ANALOGY_PARTS:
        row[f"{part}_kept"] = analogies[part]["kept"]
        row[f"{part}_dropped"] = analogies[part]["dropped"]
    return [row]


def write_table4(result_paths: Sequence[str | os.PathLike], out_csv: str | os.PathLike) -> list[dict[str, Any]]:
    """Write Table 4 (analogy accuracy in percent per embedding source and K) and return its rows."""
    rows = _collect_rows(result_paths, "analogies", "Table 4", _analogy_row)
    write_rows(rows, out_csv, TABLE4_COLUMNS)
    return rows


def _similarity_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"similarity_set": name, "spearman": _rounded(values["spearman"]), "pairs": values["pairs"],
             "kept": values["kept"], "dropped": values["dropped"]}
            for name, values in sorted(result["similarity"].items())]


def write_table5(result_paths: Sequence[str | os.PathLike], out_csv: str | os.PathLike) -> list[dict[str, Any]]:
    """Write Table 5 (Spearman correlation per similarity set, embedding source and K) and return its rows."""
    rows = _collect_rows(result_paths, "similarity", "Table 5", _similarity_rows)
    write_rows(rows, out_csv, TABLE5_COLUMNS)
    return rows


def _translation_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    translation = result["translation"]
    rows = []
    for key, direction in DIRECTIONS.items():
        values = translation[key]
        row = {"direction": direction, "pairs": translation["pairs"]["kept"], "queries": values["queries"],
               "candidates": values["candidates"], "candidate_set": translation["candidate_set"]}
        for k in translation["ks"]:
            row[f"precision@{k}"] = _percent(values[f"precision@{k}"])
            row[f"chance@{k}"] = _percent(values[f"chance@{k}"])
        rows.append(row)
    return rows


def write_table6(result_paths: Sequence[str | os.PathLike], out_csv: str | os.PathLike) -> list[dict[str, Any]]:
    """Write Table 6 (translation precision@k and chance@k in percent, both directions) and return its rows.

    The k columns are those of all result files together, so a file evaluated with fewer k leaves cells empty.
    """
    rows = _collect_rows(result_paths, "translation", "Table 6", _translation_rows)
    ks = sorted({int(column.split("@")[1]) for row in rows for column in row if column.startswith("precision@")})
    columns = [*TABLE6_LEADING_COLUMNS, *(f"{metric}@{k}" for k in ks for metric in ("precision", "chance"))]
    write_rows(rows, out_csv, columns)
    return rows


def _top_pair_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"rank": rank, "english": pair["english"], "french": pair["french"],
             "cosine": _rounded(pair["cosine"]), "correct": pair["correct"]}
            for rank, pair in enumerate(result["top_pairs"], start=1)]


def write_table7(result_paths: Sequence[str | os.PathLike], out_csv: str | os.PathLike) -> list[dict[str, Any]]:
    """Write Table 7 (the most similar English-French pairs per embedding source and K) and return its rows."""
    rows = _collect_rows(result_paths, "top_pairs", "Table 7", _top_pair_rows)
    write_rows(rows, out_csv, TABLE7_COLUMNS)
    return rows
