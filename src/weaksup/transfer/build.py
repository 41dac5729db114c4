"""Preparing each configured transfer dataset: from a released layout or a demo builder to the prepared form."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from weaksup.corpus.demo import DemoConfig
from weaksup.data import open_image_store
from weaksup.transfer import demo_tasks
from weaksup.transfer.prepared import (
    IGNORED,
    MULTICLASS,
    MULTILABEL,
    NEGATIVE,
    POSITIVE,
    SPLIT_CODES,
    LabelledImage,
    PreparedDataset,
    write_prepared,
)

log = logging.getLogger(__name__)


def _released_images(source) -> list[LabelledImage]:
    """Turn the items of a released dataset's reader into images to prepare."""
    images = []
    for item in source.items:
        labels = np.full(len(source.classes), NEGATIVE, dtype=np.int8)
        labels[list(item.difficult)] = IGNORED
        labels[list(item.labels)] = POSITIVE
        splits = tuple(SPLIT_CODES[split] for split in item.splits)
        images.append(LabelledImage(str(item.source), item.source.read_bytes, labels, splits))
    return images


def prepare_released(name: str, root: str | os.PathLike, out_dir: str | os.PathLike, image_size: int,
                     threads: int, max_skipped_fraction: float) -> PreparedDataset:
    """Read a released dataset extracted under `root` with its reader and write its prepared form."""
    from weaksup.transfer.readers import READERS

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"transfer dataset {name}: directory {root} not found; set "
                                f"transfer.datasets.{name}.path to the extracted dataset, or remove it to download")
    source = READERS[name](root)
    info = {"source_dir": str(root), "missing_images": len(source.missing),
            "missing_examples": list(source.missing[:20])}
    return write_prepared(out_dir, name, source.task, source.classes, _released_images(source), image_size,
                          source.split_sets, threads, max_skipped_fraction, info)


def prepare_demo(name: str, settings: dict[str, Any], out_dir: str | os.PathLike, image_size: int, threads: int,
                 demo_corpus: dict[str, Any], corpus_dir: str | None = None,
                 labels_tsvs: Sequence[str] | None = None, targets_path: str | None = None) -> PreparedDataset:
    """Build one of the demo's transfer tasks (`weaksup.transfer.demo_tasks`) and write its prepared form."""
    seed = int(demo_corpus.get("seed", 0))
    if name in ("new_glyphs", "glyph_icons"):
        config = DemoConfig.from_mapping({"languages": demo_corpus["languages"],
                                          "max_glyphs": demo_corpus["max_glyphs"]})
        classes, images = demo_tasks.held_out_glyph_images(config, name, settings["glyphs"],
                                                           settings["images_per_glyph"], image_size, seed)
    elif name == "corpus_glyphs":
        store = open_image_store(corpus_dir)
        classes, images = demo_tasks.corpus_glyph_images(store, labels_tsvs, targets_path,
                                                         settings["min_images_per_class"],
                                                         settings.get("max_images"), seed)
    elif name == "corpus_glyphs_multilabel":
        store = open_image_store(corpus_dir)
        classes, images = demo_tasks.corpus_multilabel_images(store, labels_tsvs, targets_path,
                                                              settings["classes"], settings.get("max_images"), seed)
    else:
        raise ValueError(f"unknown demo transfer task {name!r}; known: {', '.join(demo_tasks.DEMO_TASKS)}")
    task = MULTILABEL if name == "corpus_glyphs_multilabel" else MULTICLASS
    return write_prepared(out_dir, name, task, classes, images, image_size, 0, threads, 0.0,
                          {"source_dir": "built by weaksup.transfer.demo_tasks"})
