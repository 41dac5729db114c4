"""Tests of precision@k, the frequency baseline and word-prediction evaluation of a model file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from weaksup.corpus.shards import PhotoText, ShardWriter, shard_stem
from weaksup.data import make_photo_loader, open_image_store
from weaksup.evaluate import PrecisionAccumulator, evaluate_word_prediction, frequency_baseline, main, precision_at_k
from weaksup.images import encode_jpeg
from weaksup.models import build_model, save_model
from weaksup.targets import TEST, TRAIN, VALIDATION, Targets, word_photo_index


def make_targets(rows: list[list[int]], split: list[int], num_classes: int) -> Targets:
    indptr = np.concatenate([[0], np.cumsum([len(row) for row in rows])]).astype(np.int64)
    words = np.array([word for row in rows for word in row], dtype=np.int64)
    split_array = np.array(split, dtype=np.int8)
    word_photos_indptr, word_photos = word_photo_index(indptr, words, split_array, num_classes)
    return Targets(indptr, words, split_array, word_photos_indptr, word_photos, num_classes)


def test_precision_at_k_by_hand():
    scores = torch.tensor([
        [0.9, 0.1, 0.8, 0.3, 0.2],  # ranking 0, 2, 3, 4, 1
        [0.1, 0.2, 0.3, 0.4, 0.5],  # ranking 4, 3, 2, 1, 0
        [0.5, 0.4, 0.3, 0.2, 0.1],  # no targets: skipped
    ])
    targets = [[2, 4], [0], []]
    result = precision_at_k(scores, targets, ks=(1, 2, 5))
    # Photo 0: top-1 {0} has 0 hits, top-2 {0, 2} has 1, top-5 has 2. Photo 1: hits 0, 0, 1.
    assert result["precision@1"] == pytest.approx((0 / 1 + 0 / 1) / 2)
    assert result["precision@2"] == pytest.approx((1 / 2 + 0 / 2) / 2)
    assert result["precision@5"] == pytest.approx((2 / 5 + 1 / 5) / 2)
    assert result["photos_evaluated"] == 2
    assert result["photos_skipped_no_targets"] == 1


def test_precision_accumulates_over_batches():
    torch.manual_seed(0)
    scores = torch.randn(10, 8)
    targets = [np.array([i % 8, (i * 3) % 8]) for i in range(10)]
    accumulator = PrecisionAccumulator(ks=(1, 3))
    accumulator.add(scores[:4], targets[:4])
    accumulator.add(scores[4:], targets[4:])
    assert accumulator.result() == pytest.approx(precision_at_k(scores, targets, ks=(1, 3)))


def test_precision_without_any_target():
    result = precision_at_k(torch.randn(2, 4), [[], []], ks=(1,))
    assert result["precision@1"] is None
    assert result["photos_skipped_no_targets"] == 2


def test_precision_rejects_k_above_classes():
    with pytest.raises(ValueError, match="precision@10 needs at least 10 classes"):
        precision_at_k(torch.randn(2, 4), [[0], [1]], ks=(10,))


def test_frequency_baseline_by_hand():
    # Training counts: word 2 three times, word 0 twice, word 1 once, word 3 never. Ranking 2, 0, 1, 3.
    rows = [[0, 2], [2], [0, 1, 2], [3], [2, 3], [0], []]
    split = [TRAIN, TRAIN, TRAIN, VALIDATION, TEST, TEST, TEST]
    result = frequency_baseline(make_targets(rows, split, num_classes=4), ks=(1, 2), split="test")
    # Test photo 4 {2, 3}: top-1 {2} 1 hit, top-2 {2, 0} 1 hit. Test photo 5 {0}: 0 hits, then 1 hit.
    assert result["precision@1"] == pytest.approx((1 + 0) / 2)
    assert result["precision@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert result["photos_evaluated"] == 2
    assert result["photos_skipped_no_targets"] == 1


def test_frequency_baseline_rejects_unknown_split():
    targets = make_targets([[0]], [TRAIN], num_classes=2)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        frequency_baseline(targets, ks=(1,), split="dev")


@pytest.fixture()
def model_and_corpus(tmp_path) -> tuple[Path, Path, Path, Targets]:
    rng = np.random.default_rng(1)
    corpus_dir = tmp_path / "corpus"
    with ShardWriter(corpus_dir / f"{shard_stem(0)}.tar") as writer:
        for photo in range(30):
            pixels = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
            writer.write(PhotoText(f"p{photo}"), encode_jpeg(Image.fromarray(pixels), 64))
    rows = [sorted(rng.choice(12, size=rng.integers(0, 3), replace=False).tolist()) for _ in range(30)]
    targets = make_targets(rows, [TRAIN] * 10 + [VALIDATION] * 5 + [TEST] * 15, num_classes=12)
    targets_path = tmp_path / "targets.npz"
    targets.save(targets_path)

    torch.manual_seed(0)
    model_path = tmp_path / "model.pt"
    save_model(model_path, build_model("alexnet", 12, width=0.1, embedding_dim=16), {"crop_size": 64})
    return model_path, corpus_dir, targets_path, targets


def test_evaluate_word_prediction_matches_direct_scores(model_and_corpus, tmp_path):
    model_path, corpus_dir, targets_path, targets = model_and_corpus
    output = tmp_path / "results" / "word_prediction.json"
    result = evaluate_word_prediction(model_path, corpus_dir, targets_path, split="test", ks=(1, 5), batch_size=4,
                                      workers=0, device="cpu", output=output, include_frequency_baseline=True)

    test_photos = targets.photos_in_split(TEST)
    model = build_model("alexnet", 12, width=0.1, embedding_dim=16)
    model.load_state_dict(torch.load(model_path, weights_only=True)["state_dict"])
    images, _ = next(iter(make_photo_loader(open_image_store(corpus_dir), test_photos, 64, 100, 0, False)))
    with torch.no_grad():
        expected = precision_at_k(model.eval()(images), [targets.targets_of(p) for p in test_photos], ks=(1, 5))

    assert result["precision@1"] == pytest.approx(expected["precision@1"])
    assert result["precision@5"] == pytest.approx(expected["precision@5"])
    assert result["photos_evaluated"] == expected["photos_evaluated"]
    assert result["photos_skipped_no_targets"] == expected["photos_skipped_no_targets"]
    assert result["frequency_baseline"] == frequency_baseline(targets, ks=(1, 5), split="test")
    assert json.loads(output.read_text()) == result


def test_evaluate_rejects_other_dictionary(model_and_corpus, tmp_path):
    model_path, corpus_dir, _, _ = model_and_corpus
    other_path = tmp_path / "other.npz"
    make_targets([[0]] * 30, [TEST] * 30, num_classes=20).save(other_path)
    with pytest.raises(ValueError, match="predicts 12 words but"):
        evaluate_word_prediction(model_path, corpus_dir, other_path, workers=0, device="cpu")


def test_evaluate_command_line(model_and_corpus, tmp_path):
    model_path, corpus_dir, targets_path, _ = model_and_corpus
    output = tmp_path / "cli.json"
    assert main(["--model", str(model_path), "--corpus-dir", str(corpus_dir), "--targets", str(targets_path),
                 "--ks", "1", "3", "--workers", "0", "--device", "cpu", "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    assert set(result) >= {"precision@1", "precision@3", "photos_evaluated", "frequency_baseline"}
    assert result["split"] == "test"
