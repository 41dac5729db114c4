"""Training word counts and the dictionary of target words built from them.

Joulin et al. 2016 (Section 3) count words over the training photos, drop the 500 most common ones ("the", "of",
"and", ...) and use the next K most common as the dictionary, K in {1,000; 10,000; 100,000}. A word's count here
is its document frequency: the number of training photos whose tokens contain it.

Count and dictionary files are TSV tables with the header `word`, `photos`, sorted by count (descending) and then
by word (ascending). That order also ranks the words for the dictionary, so ties are broken the same way on
every run.
"""

from __future__ import annotations

import heapq
import logging
import os
from collections import Counter
from typing import Iterable, Iterator, Mapping, Sequence

from tqdm import tqdm

from weaksup.atomic import atomic_open

log = logging.getLogger(__name__)

COUNTS_COLUMNS = ("word", "photos")


def _rank_key(item: tuple[str, int]) -> tuple[int, str]:
    word, count = item
    return -count, word


def write_counts(counts: Mapping[str, int] | Iterable[tuple[str, int]], path: str | os.PathLike) -> None:
    """Write (word, count) pairs as a counts TSV, sorted by count descending, then word ascending."""
    items = counts.items() if isinstance(counts, Mapping) else counts
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("\t".join(COUNTS_COLUMNS) + "\n")
        for word, count in sorted(items, key=_rank_key):
            handle.write(f"{word}\t{count}\n")


def read_counts(path: str | os.PathLike) -> Iterator[tuple[str, int]]:
    """Yield the (word, count) rows of a counts or dictionary TSV in file order.

    A wrong header or a malformed row raises ValueError naming the file and line.
    """
    with open(path, encoding="utf-8") as handle:
        header = tuple(handle.readline().rstrip("\n").split("\t"))
        if header != COUNTS_COLUMNS:
            raise ValueError(f"{path}: header is {list(header)}, expected {list(COUNTS_COLUMNS)}")
        for line_number, line in enumerate(handle, start=2):
            cells = line.rstrip("\n").split("\t")
            if len(cells) != 2 or not cells[0]:
                raise ValueError(f"{path}:{line_number}: expected a word and a count, got {line.rstrip()!r}")
            word, count = cells
            if not count.isdigit():
                raise ValueError(f"{path}:{line_number}: count of {word!r} is {count!r}, not a non-negative integer")
            yield word, int(count)


def merge_counts(count_paths: Sequence[str | os.PathLike], out_path: str | os.PathLike) -> int:
    """Sum per-shard training counts into one counts TSV and return the number of distinct words."""
    total: Counter[str] = Counter()
    for path in tqdm(count_paths, desc="merge word counts", unit=" files"):
        seen: set[str] = set()
        for word, count in read_counts(path):
            # A repeated word would be counted twice, so it means a corrupt or hand-edited file.
            if word in seen:
                raise ValueError(f"{path}: word {word!r} appears on more than one line")
            seen.add(word)
            total[word] += count

    write_counts(total, out_path)
    log.info("merged %d count files into %s: %d distinct training words", len(count_paths), out_path, len(total))
    return len(total)


def build_dictionary(
    counts_path: str | os.PathLike, drop_most_frequent: int, size: int, out_path: str | os.PathLike
) -> list[str]:
    """Write the dictionary of the `size` words ranked after the `drop_most_frequent` most frequent, and return it.

    Words are ranked by count (descending), then by word (ascending). Only the first N + K ranks are kept in
    memory, so the full vocabulary of a large corpus never has to fit.
    """
    if drop_most_frequent < 0:
        raise ValueError(f"the number of most frequent words to drop must be >= 0, got {drop_most_frequent}")
    if size < 1:
        raise ValueError(f"the dictionary size K must be >= 1, got {size}")

    distinct_words = 0

    def counted_rows() -> Iterator[tuple[str, int]]:
        nonlocal distinct_words
        for row in read_counts(counts_path):
            distinct_words += 1
            yield row

    ranked = heapq.nsmallest(drop_most_frequent + size, counted_rows(), key=_rank_key)
    if distinct_words < drop_most_frequent + size:
        raise ValueError(
            f"{counts_path} has {distinct_words} distinct training words, but a dictionary of K={size} words after "
            f"dropping the N={drop_most_frequent} most frequent needs at least {drop_most_frequent + size}; "
            f"lower K in text.dictionary_sizes or N in text.drop_most_frequent, or use a larger corpus"
        )
    _check_unique([word for word, _ in ranked], counts_path)

    dictionary_rows = ranked[drop_most_frequent:]
    with atomic_open(out_path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("\t".join(COUNTS_COLUMNS) + "\n")
        handle.writelines(f"{word}\t{count}\n" for word, count in dictionary_rows)

    dropped_examples = ", ".join(word for word, _ in ranked[: min(10, drop_most_frequent)])
    log.info(
        "dictionary %s: K=%d words with %d to %d training photos each, after dropping the %d most frequent (%s%s) "
        "of %d distinct words",
        out_path, size, dictionary_rows[0][1], dictionary_rows[-1][1], drop_most_frequent, dropped_examples,
        ", ..." if drop_most_frequent > 10 else "", distinct_words,
    )
    return [word for word, _ in dictionary_rows]


def _check_unique(words: Sequence[str], path: str | os.PathLike) -> None:
    repeated = [word for word, count in Counter(words).items() if count > 1]
    if repeated:
        raise ValueError(f"{path}: words on more than one line: {repeated[:10]}")


def load_dictionary(path: str | os.PathLike) -> list[str]:
    """Return the words of a dictionary TSV in rank order. The position of a word is its class id."""
    words = [word for word, _ in read_counts(path)]
    if not words:
        raise ValueError(f"{path}: the dictionary is empty")
    _check_unique(words, path)
    return words

