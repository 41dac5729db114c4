"""Clean-label targets for the demo's supervised baseline, the stand-in for training on ImageNet.

Joulin et al. (ECCV 2016) compare their weakly supervised features with features of networks trained on the
labelled ImageNet classification task. The demo corpus records the glyphs drawn in every photo beside each shard
(`shard-XXXXX.labels.tsv`, see `weaksup.corpus.demo`), and this module turns them into an ImageNet-like
single-label task:

- the classes are the glyphs that appear alone in a photo, and a single-glyph photo has its glyph as its only
  target, while a photo with two or three glyphs has no target;
- a glyph with fewer than `min_photos_per_class` single-glyph training photos is dropped, and its photos have no
  target;
- every photo keeps the train, validation or test split of the word targets, read from the word targets file
  (same global photo numbering), so both kinds of model are evaluated on the same photos.

The output is a `weaksup.targets.Targets` file, so `weaksup.train` trains on it unchanged, with class-uniform
sampling over glyph classes and the softmax loss. Class ids follow the number of training photos (descending),
then the hexcode, like the ranks of a dictionary. The class list is a TSV with the columns `hexcode`, `emoji`,
`name` (English CLDR short name) and `train_photos`, one row per class id.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import emoji
import numpy as np

from weaksup.atomic import atomic_open
from weaksup.corpus.demo import PHOTO_ID_PREFIX, read_demo_labels
from weaksup.targets import SPLIT_NAMES, TRAIN, Targets, load_targets, word_photo_index

log = logging.getLogger(__name__)

CLASS_COLUMNS = ("hexcode", "emoji", "name", "train_photos")
HEXCODE_PATTERN = re.compile(r"[0-9A-F]{4,6}(-[0-9A-F]{4,6})*")


@dataclass(frozen=True)
class GlyphClass:
    """One class of the supervised task: a glyph, its English name and its number of training photos."""

    hexcode: str
    emoji: str
    name: str
    train_photos: int


def emoji_of_hexcode(hexcode: str) -> str:
    """Return the emoji of a labels hexcode such as "2600-FE0F"."""
    return "".join(chr(int(part, 16)) for part in hexcode.split("-"))


def english_name(glyph: str) -> str:
    """Return the English CLDR short name of an emoji as plain words ("red apple"), else its Unicode name."""
    cldr = emoji.EMOJI_DATA.get(glyph, {}).get("en")
    if cldr:
        return " ".join(cldr.strip(":").replace("_", " ").split())
    base = glyph.replace("\ufe0f", "")
    return unicodedata.name(base, f"U+{ord(base[0]):04X}").lower() if base else glyph


def read_single_glyphs(labels_tsvs: Sequence[str | os.PathLike]) -> list[str | None]:
    """Return, per global photo number, the hexcode of the photo's glyph, or None for a photo with several glyphs.

    The labels files must be all shards of one corpus in shard order. Photo ids are checked against the demo
    numbering (`demo{number:08d}`), so a missing, repeated or reordered shard raises ValueError.
    """
    glyphs: list[str | None] = []
    for path in labels_tsvs:
        for line_number, (photo_id, _, hexcodes) in enumerate(read_demo_labels(path), start=2):
            expected = f"{PHOTO_ID_PREFIX}{len(glyphs):08d}"
            if photo_id != expected:
                raise ValueError(
                    f"{path}:{line_number}: photo id {photo_id}, but global photo {len(glyphs)} should be "
                    f"{expected}; pass the labels files of all shards of the corpus in shard order"
                )
            invalid = [code for code in hexcodes if not HEXCODE_PATTERN.fullmatch(code)]
            if invalid:
                raise ValueError(f"{path}:{line_number}: invalid glyph hexcode {invalid[0]!r} for photo {photo_id}")
            glyphs.append(hexcodes[0] if len(hexcodes) == 1 else None)
    return glyphs


def choose_classes(glyphs: Sequence[str | None], split: np.ndarray, min_photos_per_class: int) -> list[GlyphClass]:
    """Return the glyphs with at least `min_photos_per_class` single-glyph training photos, in class-id order."""
    train_counts = Counter(glyph for glyph, photo_split in zip(glyphs, split) if glyph and photo_split == TRAIN)
    kept_counts = [(glyph, count) for glyph, count in train_counts.items() if count >= min_photos_per_class]
    kept_counts.sort(key=lambda item: (-item[1], item[0]))
    dropped = sorted(glyph for glyph, count in train_counts.items() if count < min_photos_per_class)
    if dropped:
        log.info("dropped %d of %d single-glyph classes with fewer than %d training photos: %s%s",
                 len(dropped), len(train_counts), min_photos_per_class, ", ".join(dropped[:10]),
                 ", ..." if len(dropped) > 10 else "")
    classes = []
    for glyph, count in kept_counts:
        character = emoji_of_hexcode(glyph)
        classes.append(GlyphClass(glyph, character, english_name(character), count))
    return classes


def write_class_list(classes: Sequence[GlyphClass], path: str | os.PathLike) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("\t".join(CLASS_COLUMNS) + "\n")
        for glyph_class in classes:
            handle.write(f"{glyph_class.hexcode}\t{glyph_class.emoji}\t{glyph_class.name}\t"
                         f"{glyph_class.train_photos}\n")


def load_class_list(path: str | os.PathLike) -> list[GlyphClass]:
    """Return the classes of a class list TSV in class-id order."""
    classes = []
    with open(path, encoding="utf-8") as handle:
        header = tuple(handle.readline().rstrip("\n").split("\t"))
        if header != CLASS_COLUMNS:
            raise ValueError(f"{path}: header is {list(header)}, expected {list(CLASS_COLUMNS)}")
        for line_number, line in enumerate(handle, start=2):
            cells = line.rstrip("\n").split("\t")
            if len(cells) != len(CLASS_COLUMNS) or not cells[3].isdigit():
                raise ValueError(f"{path}:{line_number}: expected a hexcode, emoji, name and photo count, got {cells}")
            classes.append(GlyphClass(cells[0], cells[1], cells[2], int(cells[3])))
    return classes


def build_label_targets(
    labels_tsvs: Sequence[str | os.PathLike],
    word_targets_path: str | os.PathLike,
    out_npz: str | os.PathLike,
    min_photos_per_class: int,
    classes_out: str | os.PathLike,
) -> Targets:
    """Write the single-glyph targets to `out_npz` and the class list to `classes_out`, and return the targets.

    `labels_tsvs` are the demo labels files of all corpus shards in shard order. `word_targets_path` is the word
    targets file of the same corpus, whose per-photo split is copied.
    """
    if min_photos_per_class < 1:
        raise ValueError(f"min_photos_per_class must be at least 1, got {min_photos_per_class}")
    glyphs = read_single_glyphs(labels_tsvs)
    word_targets = load_targets(word_targets_path)
    if len(glyphs) != word_targets.num_photos:
        raise ValueError(
            f"the {len(labels_tsvs)} labels files describe {len(glyphs)} photos but {word_targets_path} has "
            f"{word_targets.num_photos}; pass the labels files and the word targets of the same corpus"
        )
    split = word_targets.split.astype(np.int8)

    classes = choose_classes(glyphs, split, min_photos_per_class)
    if not classes:
        raise ValueError(f"no glyph has {min_photos_per_class} or more single-glyph training photos; "
                         "lower min_photos_per_class or build a larger corpus")
    class_ids = {glyph_class.hexcode: class_id for class_id, glyph_class in enumerate(classes)}
    photo_classes = [class_ids.get(glyph, -1) if glyph else -1 for glyph in glyphs]
    has_target = np.array([class_id >= 0 for class_id in photo_classes], dtype=bool)

    indptr = np.concatenate([[0], np.cumsum(has_target)]).astype(np.int64)
    words = np.array([class_id for class_id in photo_classes if class_id >= 0], dtype=np.int32)
    word_photos_indptr, word_photos = word_photo_index(indptr, words, split, len(classes))
    targets = Targets(indptr, words, split, word_photos_indptr, word_photos, len(classes))
    targets.save(out_npz)
    write_class_list(classes, classes_out)
    _log_summary(glyphs, has_target, split, len(classes), out_npz, classes_out)
    return targets


def _log_summary(glyphs: Sequence[str | None], has_target: np.ndarray, split: np.ndarray, num_classes: int,
                 out_npz: str | os.PathLike, classes_out: str | os.PathLike) -> None:
    several = np.array([glyph is None for glyph in glyphs], dtype=bool)
    rare = ~several & ~has_target
    for number, name in enumerate(SPLIT_NAMES):
        in_split = split == number
        log.info("%s split: %d photos, %d with a target; no target: %d with several glyphs, %d of a dropped "
                 "class", name, int(in_split.sum()), int((has_target & in_split).sum()),
                 int((several & in_split).sum()), int((rare & in_split).sum()))
    log.info("wrote %s (%d classes, %d of %d photos with a target) and %s", out_npz, num_classes,
             int(has_target.sum()), len(glyphs), Path(classes_out))
