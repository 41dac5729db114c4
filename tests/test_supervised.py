"""Tests of the clean-label targets for the supervised baseline, built from a tiny demo corpus."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from weaksup.corpus import demo
from weaksup.corpus.shards import shard_stem
from weaksup.models import load_model
from weaksup.sampling import ClassUniformSampler
from weaksup.supervised import build_label_targets, load_class_list
from weaksup.targets import TRAIN, VALIDATION, load_targets
from weaksup.text.dictionary import build_dictionary, merge_counts
from weaksup.text.pipeline import tokenize_shard
from weaksup.text.targets_build import build_targets
from weaksup.train import main as train_main

NUM_PHOTOS = 160
NUM_SHARDS = 2
IMAGE_SIZE = 64
MAX_GLYPHS = 6


def build_word_targets(corpus_dir: Path, text_dir: Path) -> Path:
    """Tokenize every shard and build a small dictionary and its word targets, as the workflow does."""
    tokens, counts = [], []
    for shard in range(NUM_SHARDS):
        stem = shard_stem(shard)
        tokens.append(text_dir / f"{stem}.tokens.tsv")
        counts.append(text_dir / f"{stem}.counts.tsv")
        tokenize_shard(corpus_dir / f"{stem}.tsv", tokens[-1], counts[-1], 0.15, 0.15, split_seed=0)
    merge_counts(counts, text_dir / "counts.tsv")
    build_dictionary(text_dir / "counts.tsv", 0, 8, text_dir / "dictionary.tsv")
    build_targets(tokens, text_dir / "dictionary.tsv", text_dir / "targets.npz")
    return text_dir / "targets.npz"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("supervised")
    config = demo.DemoConfig(seed=3, image_size=IMAGE_SIZE, languages=["en"], max_glyphs=MAX_GLYPHS)
    for shard in range(NUM_SHARDS):
        demo.build_demo_shard(root / "corpus" / f"{shard_stem(shard)}.tar", shard, NUM_SHARDS, NUM_PHOTOS,
                              config)
    labels_tsvs = [root / "corpus" / f"{shard_stem(shard)}.labels.tsv" for shard in range(NUM_SHARDS)]
    word_targets = build_word_targets(root / "corpus", root)
    labels = [hexcodes for path in labels_tsvs for _, _, hexcodes in demo.read_demo_labels(path)]
    split = load_targets(word_targets).split
    train_counts = Counter(row[0] for row, s in zip(labels, split) if len(row) == 1 and s == TRAIN)
    # One more than the rarest class, so that at least that class is dropped.
    min_photos = min(train_counts.values()) + 1
    targets = build_label_targets(labels_tsvs, word_targets, root / "labels.npz", min_photos, root / "classes.tsv")
    return {"root": root, "labels_tsvs": labels_tsvs, "word_targets": word_targets, "labels": labels,
            "train_counts": train_counts, "min_photos": min_photos, "targets": targets}


def test_only_single_glyph_photos_have_targets(corpus):
    targets = corpus["targets"]
    hexcodes = [glyph_class.hexcode for glyph_class in load_class_list(corpus["root"] / "classes.tsv")]
    assert targets.num_photos == NUM_PHOTOS
    for photo, row in enumerate(corpus["labels"]):
        expected = [hexcodes.index(row[0])] if len(row) == 1 and row[0] in hexcodes else []
        assert targets.targets_of(photo).tolist() == expected, photo
    assert any(len(row) > 1 for row in corpus["labels"])


def test_split_matches_word_targets(corpus):
    word_split = load_targets(corpus["word_targets"]).split
    assert np.array_equal(corpus["targets"].split, word_split)
    assert np.array_equal(load_targets(corpus["root"] / "labels.npz").split, word_split)


def test_rare_classes_dropped(corpus):
    classes = load_class_list(corpus["root"] / "classes.tsv")
    frequent = {glyph for glyph, count in corpus["train_counts"].items() if count >= corpus["min_photos"]}
    assert {glyph_class.hexcode for glyph_class in classes} == frequent
    assert len(frequent) < len(corpus["train_counts"])
    assert corpus["targets"].num_classes == len(frequent)


def test_class_list_names_and_order(corpus):
    classes = load_class_list(corpus["root"] / "classes.tsv")
    counts = [glyph_class.train_photos for glyph_class in classes]
    assert counts == sorted(counts, reverse=True)
    # The English names that the demo text uses for these glyphs, for example "grinning face" for 1F600.
    demo_names = {glyph.hexcode: glyph.names["en"] for glyph in demo.load_glyph_catalog(["en"], MAX_GLYPHS)}
    for glyph_class in classes:
        assert glyph_class.train_photos == corpus["train_counts"][glyph_class.hexcode]
        assert glyph_class.emoji == "".join(chr(int(part, 16)) for part in glyph_class.hexcode.split("-"))
        assert glyph_class.name == demo_names[glyph_class.hexcode]


def test_class_uniform_sampling_draws_glyph_photos(corpus):
    targets = corpus["targets"]
    sampler = ClassUniformSampler(targets, batch_size=64, seed=0)
    photos, classes = sampler.batch(0)
    assert sampler.num_words == targets.num_classes
    for photo, glyph_class in zip(photos, classes):
        assert targets.split[photo] == TRAIN
        assert targets.targets_of(photo).tolist() == [glyph_class]


def test_shards_out_of_order_raise(corpus, tmp_path):
    with pytest.raises(ValueError, match="in shard order"):
        build_label_targets(corpus["labels_tsvs"][::-1], corpus["word_targets"], tmp_path / "t.npz", 1,
                            tmp_path / "c.tsv")
    assert not (tmp_path / "t.npz").exists()


def test_missing_shard_raises(corpus, tmp_path):
    with pytest.raises(ValueError, match="describe 80 photos but"):
        build_label_targets(corpus["labels_tsvs"][:1], corpus["word_targets"], tmp_path / "t.npz", 1,
                            tmp_path / "c.tsv")


def test_too_high_minimum_raises(corpus, tmp_path):
    with pytest.raises(ValueError, match="no glyph has 1000 or more"):
        build_label_targets(corpus["labels_tsvs"], corpus["word_targets"], tmp_path / "t.npz", 1000,
                            tmp_path / "c.tsv")


def test_train_runs_on_label_targets(corpus, tmp_path):
    root = corpus["root"]
    run_dir = tmp_path / "run"
    assert np.count_nonzero(corpus["targets"].target_counts()[corpus["targets"].split == VALIDATION]) > 0
    assert train_main([
        "--corpus-dir", str(root / "corpus"), "--targets", str(root / "labels.npz"),
        "--run-dir", str(run_dir), "--output", str(tmp_path / "model.pt"),
        "--width", "0.1", "--embedding-dim", "16", "--crop-size", str(IMAGE_SIZE),
        "--batch-size", "8", "--epoch-size", "16", "--max-epochs", "1", "--validation-photos", "8",
        "--workers", "0", "--device", "cpu", "--seed", "1",
    ]) == 0
    model, _ = load_model(tmp_path / "model.pt")
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert model.spec.num_classes == corpus["targets"].num_classes
    assert len(metrics) == 1
    assert metrics[0]["step"] == 2
    assert math.isfinite(metrics[0]["validation_error"])
