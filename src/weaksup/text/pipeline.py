"""Tokenization of one corpus shard: each photo's tokens and split, and the shard's training word counts.

The caption of a photo is its title, description and tags (Joulin et al. 2016 use all words and tags as targets).
It is cleaned with `clean_text` and split by the Penn Treebank `tokenize`. Each photo goes to the train,
validation or test split by a hash of its id, so the split does not depend on shard layout or order.

A tokens TSV has the header `photo_id`, `split`, `tokens` and one line per photo in shard order, also for a photo
without tokens. The split is a name from `SPLIT_NAMES`, and tokens are separated by single spaces.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from weaksup.atomic import atomic_open
from weaksup.corpus.shards import read_shard_text
from weaksup.targets import SPLIT_NAMES, TEST, TRAIN, VALIDATION
from weaksup.text.clean import clean_text
from weaksup.text.dictionary import write_counts
from weaksup.text.tokenize import tokenize

log = logging.getLogger(__name__)

TOKENS_COLUMNS = ("photo_id", "split", "tokens")


def check_split_fractions(validation_fraction: float, test_fraction: float) -> None:
    """Raise ValueError unless both fractions are in [0, 1) and leave some photos for training."""
    for name, value in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    if validation_fraction + test_fraction >= 1:
        raise ValueError(
            f"validation_fraction {validation_fraction} + test_fraction {test_fraction} >= 1 leaves no training "
            f"photos; lower one of them"
        )


def assign_split(photo_id: str, validation_fraction: float, test_fraction: float, split_seed: int) -> int:
    """Return TRAIN, VALIDATION or TEST for a photo, from a hash of the seed and the photo id.

    The first 8 bytes of BLAKE2b give a number u uniform in [0, 1): test if u < test_fraction, validation if
    u < test_fraction + validation_fraction, train otherwise. The result is the same on every machine and run.
    """
    digest = hashlib.blake2b(f"{split_seed}:{photo_id}".encode("utf-8"), digest_size=8).digest()
    uniform = int.from_bytes(digest, "big") / 2**64
    if uniform < test_fraction:
        return TEST
    if uniform < test_fraction + validation_fraction:
        return VALIDATION
    return TRAIN


def tokenize_shard(
    shard_tsv: Path,
    tokens_out: Path,
    counts_out: Path,
    validation_fraction: float,
    test_fraction: float,
    split_seed: int,
) -> dict:
    """Write the tokens TSV and the training word counts of one shard's text table, and return its statistics.

    A word's count is its document frequency: the number of training photos whose tokens contain it. The
    statistics are photos per split, photos without tokens, tokens, and distinct training words.
    """
    check_split_fractions(validation_fraction, test_fraction)
    split_photos = [0, 0, 0]
    photos_without_tokens = 0
    token_total = 0
    counts: Counter[str] = Counter()

    with atomic_open(tokens_out, "w", encoding="utf-8", newline="\n") as out:
        out.write("\t".join(TOKENS_COLUMNS) + "\n")
        for photo in tqdm(read_shard_text(shard_tsv), desc=f"tokenize {Path(shard_tsv).name}", unit=" photos"):
            tokens = tokenize(clean_text(photo.caption()))
            split = assign_split(photo.photo_id, validation_fraction, test_fraction, split_seed)
            out.write(f"{photo.photo_id}\t{SPLIT_NAMES[split]}\t{' '.join(tokens)}\n")

            split_photos[split] += 1
            token_total += len(tokens)
            if not tokens:
                photos_without_tokens += 1
            if split == TRAIN:
                counts.update(set(tokens))

    write_counts(counts, counts_out)
    stats = {
        "shard": str(shard_tsv),
        "photos": sum(split_photos),
        "train_photos": split_photos[TRAIN],
        "validation_photos": split_photos[VALIDATION],
        "test_photos": split_photos[TEST],
        "photos_without_tokens": photos_without_tokens,
        "tokens": token_total,
        "distinct_training_words": len(counts),
    }
    log.info(
        "%s: %d photos (train %d, validation %d, test %d), %d without tokens, %d tokens, %d distinct training "
        "words; wrote %s and %s",
        shard_tsv, stats["photos"], stats["train_photos"], stats["validation_photos"], stats["test_photos"],
        photos_without_tokens, token_total, len(counts), tokens_out, counts_out,
    )
    return stats


def read_tokens(tokens_tsv: str | os.PathLike) -> Iterator[tuple[str, int, list[str]]]:
    """Yield (photo_id, split, tokens) per line of a tokens TSV, with split as TRAIN, VALIDATION or TEST."""
    split_numbers = {name: number for number, name in enumerate(SPLIT_NAMES)}
    with open(tokens_tsv, encoding="utf-8") as handle:
        header = tuple(handle.readline().rstrip("\n").split("\t"))
        if header != TOKENS_COLUMNS:
            raise ValueError(f"{tokens_tsv}: header is {list(header)}, expected {list(TOKENS_COLUMNS)}")
        for line_number, line in enumerate(handle, start=2):
            cells = line.rstrip("\n").split("\t")
            if len(cells) != len(TOKENS_COLUMNS):
                raise ValueError(
                    f"{tokens_tsv}:{line_number}: {len(cells)} columns, expected {len(TOKENS_COLUMNS)}"
                )
            photo_id, split_name, tokens = cells
            split = split_numbers.get(split_name)
            if split is None:
                raise ValueError(f"{tokens_tsv}:{line_number}: split {split_name!r} is not one of {SPLIT_NAMES}")
            yield photo_id, split, tokens.split()
