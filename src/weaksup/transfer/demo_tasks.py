"""Transfer tasks for the demo, built offline from the glyphs and clean labels of the demo corpus.

The paper's transfer datasets need downloads of several gigabytes. The demo has four small tasks in their place,
each a counterpart of one kind of paper dataset:

- `new_glyphs`: OpenMoji glyphs that the demo corpus never shows, drawn on random backgrounds like demo photos,
  one class per glyph. New categories in a familiar domain, as MIT Indoor or SUN397 scenes are for Flickr.
- `glyph_icons`: other glyphs that the corpus never shows, drawn alone on white and rotated by up to 30 degrees,
  one class per glyph. New categories in another domain, as Oxford Flowers' close-ups are.
- `corpus_glyphs`: single-glyph photos of the demo corpus's test split, one class per glyph (from the corpus's
  clean labels). The task the supervised baseline is trained on, as ImageNet is for the paper's baseline.
- `corpus_glyphs_multilabel`: photos of the demo corpus's test split with two or three glyphs, labelled with
  which of the most frequent glyphs they show. Multi-label, scored by average precision as Pascal VOC 2007.

`new_glyphs` takes its glyphs from the even positions of the unused catalogue and `glyph_icons` from the odd
ones, so the two never share a glyph. None of these tasks has a released split, so the evaluation protocol draws
train, validation and test images per run.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from weaksup.corpus.demo import (
    DemoConfig,
    Glyph,
    _cached_catalog,
    load_glyph_catalog,
    read_demo_labels,
    render_demo_image,
    render_icon,
)
from weaksup.corpus.shards import ImageStore
from weaksup.targets import TEST, load_targets
from weaksup.transfer.prepared import NEGATIVE, POSITIVE, LabelledImage

log = logging.getLogger(__name__)

DEMO_TASKS = ("new_glyphs", "glyph_icons", "corpus_glyphs", "corpus_glyphs_multilabel")


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _one_hot(class_id: int, num_classes: int) -> np.ndarray:
    row = np.full(num_classes, NEGATIVE, dtype=np.int8)
    row[class_id] = POSITIVE
    return row


def _unused_glyphs(demo: DemoConfig, part: int, count: int) -> list[Glyph]:
    """Return `count` glyphs, evenly spaced, of the unused catalogue's even (part 0) or odd (part 1) positions."""
    used = {glyph.hexcode for glyph in load_glyph_catalog(demo.languages, demo.max_glyphs)}
    unused = [glyph for glyph in _cached_catalog(tuple(demo.languages), None) if glyph.hexcode not in used]
    candidates = unused[part::2]
    if len(candidates) < count:
        raise ValueError(f"only {len(candidates)} glyphs are available outside the demo catalogue of {len(used)} "
                         f"for this task, fewer than the {count} requested; lower the task's glyphs setting or "
                         "the corpus's max_glyphs")
    picks = np.linspace(0, len(candidates) - 1, count).round().astype(int)
    log.info("%d of the %d glyphs outside the %d-glyph demo catalogue chosen", count, len(unused), len(used))
    return [candidates[i] for i in picks]


def held_out_glyph_images(demo: DemoConfig, task: str, num_glyphs: int, images_per_glyph: int, image_size: int,
                          seed: int) -> tuple[list[str], list[LabelledImage]]:
    """Return the images of the `new_glyphs` or `glyph_icons` task: `images_per_glyph` of each of `num_glyphs`
    glyphs outside the demo corpus's catalogue.

    Image j of glyph g is drawn from `numpy.random.default_rng([seed, part, g, j])` (part 0 for new_glyphs, 1 for
    glyph_icons), so an image does not depend on the order in which images are prepared.
    """
    part = {"new_glyphs": 0, "glyph_icons": 1}[task]
    glyphs = _unused_glyphs(demo, part, num_glyphs)
    images = []
    for class_id, glyph in enumerate(glyphs):
        for j in range(images_per_glyph):
            def read(glyph=glyph, j=j, class_id=class_id) -> bytes:
                rng = np.random.default_rng([seed, part, class_id, j])
                if part == 0:
                    return _png_bytes(render_demo_image(rng, [glyph], image_size))
                return _png_bytes(render_icon(rng, glyph, image_size))
            images.append(LabelledImage(f"{task}/{glyph.hexcode}/{j:03d}", read, _one_hot(class_id, num_glyphs), ()))
    log.info("%s: %d glyphs, %d images", task, len(glyphs), len(images))
    return [glyph.names["en"] for glyph in glyphs], images


def _test_photo_glyphs(labels_tsvs: Sequence[str | Path], targets_path: str | Path) -> list[tuple[int, list[str]]]:
    """Return (global photo number, glyph hexcodes) of every photo in the test split of the demo corpus."""
    split = load_targets(targets_path).split
    photos = []
    for path in labels_tsvs:
        for _, _, hexcodes in read_demo_labels(path):
            photos.append(hexcodes)
    if len(photos) != len(split):
        raise ValueError(f"the labels files list {len(photos)} photos but {targets_path} has {len(split)}; "
                         "pass the labels of every shard of the corpus the targets were built from")
    return [(number, glyphs) for number, glyphs in enumerate(photos) if split[number] == TEST]


def _names_of(labels_tsvs: Sequence[str | Path]) -> dict[str, str]:
    """Return hexcode -> English name (or the emoji itself when the name is unknown) of the corpus's glyphs."""
    from weaksup.supervised import english_name

    names = {}
    for path in labels_tsvs:
        for row in Path(path).read_text(encoding="utf-8").splitlines()[1:]:
            cells = row.split("\t")
            for hexcode, glyph in zip(cells[2].split(" "), cells[3].split(" ")):
                names.setdefault(hexcode, english_name(glyph))
    return names


def corpus_glyph_images(store: ImageStore, labels_tsvs: Sequence[str | Path], targets_path: str | Path,
                        min_images_per_class: int, max_images: int | None,
                        seed: int) -> tuple[list[str], list[LabelledImage]]:
    """Return the single-glyph test photos of the demo corpus whose glyph has at least `min_images_per_class`
    such photos, at most `max_images` of them (a seeded random choice), one class per glyph."""
    singles = [(number, glyphs[0]) for number, glyphs in _test_photo_glyphs(labels_tsvs, targets_path)
               if len(glyphs) == 1]
    counts = Counter(glyph for _, glyph in singles)
    hexcodes = sorted(glyph for glyph, count in counts.items() if count >= min_images_per_class)
    class_of = {glyph: i for i, glyph in enumerate(hexcodes)}
    chosen = [(number, glyph) for number, glyph in singles if glyph in class_of]
    log.info("corpus_glyphs: %d single-glyph test photos; %d glyphs have at least %d, with %d photos",
             len(singles), len(hexcodes), min_images_per_class, len(chosen))
    chosen = _subsample(chosen, max_images, seed)
    names = _names_of(labels_tsvs)
    images = [LabelledImage(f"photo {number}", lambda number=number: store.read(number),
                            _one_hot(class_of[glyph], len(hexcodes)), ()) for number, glyph in chosen]
    return [names[h] for h in hexcodes], images


def corpus_multilabel_images(store: ImageStore, labels_tsvs: Sequence[str | Path], targets_path: str | Path,
                             num_classes: int, max_images: int | None,
                             seed: int) -> tuple[list[str], list[LabelledImage]]:
    """Return the test photos of the demo corpus with two or three glyphs, at most `max_images` of them, labelled
    with which of the `num_classes` glyphs most frequent among them each photo shows."""
    multi = [(number, glyphs) for number, glyphs in _test_photo_glyphs(labels_tsvs, targets_path)
             if len(glyphs) > 1]
    counts = Counter(glyph for _, glyphs in multi for glyph in set(glyphs))
    # Ties in frequency are broken by hexcode, so the classes do not depend on dict order.
    hexcodes = [glyph for glyph, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:num_classes]]
    class_of = {glyph: i for i, glyph in enumerate(hexcodes)}
    multi = _subsample(multi, max_images, seed)

    images = []
    for number, glyphs in multi:
        row = np.full(len(hexcodes), NEGATIVE, dtype=np.int8)
        for glyph in glyphs:
            if glyph in class_of:
                row[class_of[glyph]] = POSITIVE
        images.append(LabelledImage(f"photo {number}", lambda number=number: store.read(number), row, ()))
    positives = np.sum([image.labels for image in images], axis=0)
    log.info("corpus_glyphs_multilabel: %d multi-glyph test photos, %d classes with %d to %d positives each",
             len(images), len(hexcodes), positives.min(), positives.max())
    names = _names_of(labels_tsvs)
    return [names[h] for h in hexcodes], images


def _subsample(items: list, max_items: int | None, seed: int) -> list:
    """Return at most `max_items` of `items`, a seeded random choice kept in the original order."""
    if max_items is None or len(items) <= max_items:
        return items
    keep = np.sort(np.random.default_rng(seed).choice(len(items), max_items, replace=False))
    return [items[i] for i in keep]
