"""The prepared form of a transfer dataset: images in corpus shards, labels and split sets beside them.

Every transfer dataset, whatever its released layout, is converted once into a directory that the feature
extractor reads like a corpus (`weaksup.corpus.shards`):

- `shard-XXXXX.tar`, `.tsv` and `.index.npy`: the images, rescaled to the corpus image size and JPEG-encoded
  exactly as corpus photos are, so features are computed with the training preprocessing (central crop and
  per-image standardisation at feature time). Item i of the dataset is global photo number i. The text table's
  title column holds the image's source name, for tracing a row back to the released file;
- `dataset.npz`: `labels` (N, C) int8, 1 for a class of the image, 0 for a class it does not have and -1 for a
  class whose label is ignored (Pascal VOC's "difficult"), and `splits` (S, N) int8, one row per released split
  set with 0 train, 1 validation, 2 test and -1 for images outside that split set (S = 0 when the dataset was
  released without a split);
- `dataset.json`: name, task ("multiclass" or "multilabel"), class names, the image count and the images that were
  skipped and why.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import Image
from tqdm import tqdm

from weaksup.atomic import save_npz, write_json
from weaksup.corpus.shards import PhotoText, ShardWriter, shard_stem
from weaksup.images import decode_rgb, encode_jpeg

log = logging.getLogger(__name__)

MULTICLASS, MULTILABEL = "multiclass", "multilabel"
TASKS = (MULTICLASS, MULTILABEL)
SPLIT_CODES = {"train": 0, "val": 1, "test": 2, "": -1}
TRAIN, VALIDATION, TEST, UNUSED = 0, 1, 2, -1
POSITIVE, NEGATIVE, IGNORED = 1, 0, -1
# Images per shard of a prepared dataset: ImageNet's 1.28M training images make about 130 shards.
IMAGES_PER_SHARD = 10_000
# Skipped image names kept in dataset.json; the log has the same first ones and the count has all.
MAX_LISTED_SKIPS = 20


@dataclass
class PreparedDataset:
    """A prepared transfer dataset: labels (N, C) and splits (S, N) as described in the module docstring."""

    name: str
    task: str
    classes: list[str]
    labels: np.ndarray
    splits: np.ndarray
    directory: Path | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"dataset {self.name}: task {self.task!r} is not one of {', '.join(TASKS)}")
        self.labels = np.asarray(self.labels, dtype=np.int8)
        self.splits = np.asarray(self.splits, dtype=np.int8).reshape(-1, self.labels.shape[0])
        if self.labels.ndim != 2 or self.labels.shape[1] != len(self.classes):
            raise ValueError(f"dataset {self.name}: labels have shape {self.labels.shape}, expected "
                             f"(images, {len(self.classes)} classes)")
        if not np.isin(self.labels, (POSITIVE, NEGATIVE, IGNORED)).all():
            raise ValueError(f"dataset {self.name}: labels must be 1, 0 or -1")
        if not np.isin(self.splits, (TRAIN, VALIDATION, TEST, UNUSED)).all():
            raise ValueError(f"dataset {self.name}: split codes must be 0 (train), 1 (val), 2 (test) or -1")
        if self.task == MULTICLASS and np.any((self.labels == POSITIVE).sum(axis=1) != 1):
            bad = int(np.flatnonzero((self.labels == POSITIVE).sum(axis=1) != 1)[0])
            raise ValueError(f"dataset {self.name}: multiclass image {bad} does not have exactly one class")

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_ids(self) -> np.ndarray:
        """Return the class of every image of a multiclass dataset."""
        if self.task != MULTICLASS:
            raise ValueError(f"dataset {self.name} is {self.task}; it has no single class per image")
        return np.argmax(self.labels == POSITIVE, axis=1)


def save_prepared_metadata(directory: str | os.PathLike, dataset: PreparedDataset) -> None:
    """Write `dataset.npz` and `dataset.json` of a prepared dataset (atomically; the JSON goes last)."""
    directory = Path(directory)
    save_npz(directory / "dataset.npz", labels=dataset.labels, splits=dataset.splits)
    info = {**dataset.info, "name": dataset.name, "task": dataset.task, "classes": dataset.classes,
            "images": len(dataset), "split_sets": int(dataset.splits.shape[0])}
    write_json(directory / "dataset.json", info)


def load_prepared(directory: str | os.PathLike) -> PreparedDataset:
    """Read the labels, splits and description of a prepared dataset directory."""
    directory = Path(directory)
    json_path = directory / "dataset.json"
    if not json_path.exists():
        raise FileNotFoundError(f"{json_path} not found; prepare the transfer dataset first (rule prepare_transfer)")
    with open(json_path, encoding="utf-8") as handle:
        info = json.load(handle)
    with np.load(directory / "dataset.npz") as arrays:
        labels, splits = arrays["labels"], arrays["splits"]
    return PreparedDataset(info["name"], info["task"], list(info["classes"]), labels, splits, directory, info)


@dataclass(frozen=True)
class LabelledImage:
    """One image to prepare: how to read its bytes, its label row and its code in each released split set."""

    name: str
    read: Callable[[], bytes]
    labels: np.ndarray
    splits: tuple[int, ...]


def _encode(image: LabelledImage, image_size: int) -> bytes | str:
    """Return the stored JPEG of an image, or the reason it cannot be used."""
    try:
        return encode_jpeg(decode_rgb(image.read()), image_size)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        return f"{type(error).__name__}: {error}"


def write_prepared(
    directory: str | os.PathLike, name: str, task: str, classes: Sequence[str], images: Iterable[LabelledImage],
    image_size: int, split_sets: int, threads: int = 1, max_skipped_fraction: float = 0.01,
    info: dict | None = None,
) -> PreparedDataset:
    """Decode, rescale and store every image, then write the labels and split sets of the images kept.

    An image that cannot be decoded is skipped, counted and named in the log and in `dataset.json`. When more than
    `max_skipped_fraction` of the images are skipped, the dataset is not written and ValueError names the count.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Shards of an earlier, larger preparation would otherwise be read as part of this one.
    for stale in directory.glob("shard-*"):
        stale.unlink()
    images = list(images)
    kept_labels: list[np.ndarray] = []
    kept_splits: list[tuple[int, ...]] = []
    skipped: list[tuple[str, str]] = []
    writer: ShardWriter | None = None
    shard = 0

    # Decoding and resizing run in threads (Pillow releases the GIL); shards are written in item order.
    with ThreadPoolExecutor(max(threads, 1)) as pool:
        encoded = pool.map(lambda item: _encode(item, image_size), images)
        try:
            for item, jpeg in tqdm(zip(images, encoded), total=len(images), desc=f"prepare {name}",
                                   unit=" images", mininterval=10):
                if isinstance(jpeg, str):
                    skipped.append((item.name, jpeg))
                    continue
                if writer is None:
                    writer = ShardWriter(directory / f"{shard_stem(shard)}.tar")
                number = len(kept_labels)
                writer.write(PhotoText(f"{name}{number:08d}", title=item.name), jpeg)
                kept_labels.append(item.labels)
                kept_splits.append(item.splits)
                if len(writer) == IMAGES_PER_SHARD:
                    writer.close()
                    writer, shard = None, shard + 1
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
    if writer is not None:
        writer.close()

    _report_skipped(name, len(images), skipped, max_skipped_fraction)
    labels = np.array(kept_labels, dtype=np.int8).reshape(-1, len(classes))
    splits = np.array(kept_splits, dtype=np.int8).reshape(len(kept_splits), split_sets).T
    details = {**(info or {}), "image_size": image_size, "skipped_images": len(skipped),
               "skipped_examples": [f"{n}: {reason}" for n, reason in skipped[:MAX_LISTED_SKIPS]]}
    dataset = PreparedDataset(name, task, list(classes), labels, splits, directory, details)
    save_prepared_metadata(directory, dataset)
    log.info("prepared %s: %d images, %d classes, %d split sets, %d skipped, in %s", name, len(dataset),
             dataset.num_classes, split_sets, len(skipped), directory)
    return dataset


def _report_skipped(name: str, total: int, skipped: list[tuple[str, str]], max_fraction: float) -> None:
    if not skipped:
        return
    reasons = Counter(reason.split(":")[0] for _, reason in skipped)
    log.warning("%s: skipped %d of %d images that could not be decoded (%s)", name, len(skipped), total,
                ", ".join(f"{count} {kind}" for kind, count in reasons.most_common()))
    for image_name, reason in skipped[:MAX_LISTED_SKIPS]:
        log.warning("  skipped %s: %s", image_name, reason)
    if len(skipped) > max_fraction * total:
        raise ValueError(f"{name}: {len(skipped)} of {total} images could not be decoded, more than the allowed "
                         f"fraction {max_fraction}; check the extracted files (first: {skipped[0][0]}: "
                         f"{skipped[0][1]}) or raise transfer.max_skipped_fraction")
