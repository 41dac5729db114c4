"""Tests of the class-balanced one-vs-all logistic loss, its restriction to the batch's words and its training run."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from test_train_resume import train_args, write_tiny_corpus

from weaksup.evaluate import evaluate_word_prediction
from weaksup.losses import (
    ClassWeights,
    OneVsAllHead,
    full_one_vs_all_loss,
    make_sparse_head,
    one_vs_all_loss,
    one_vs_all_weights,
    sampled_one_vs_all_loss,
)
from weaksup.models import load_model
from weaksup.sampling import ClassUniformSampler
from weaksup.targets import TRAIN, VALIDATION, Targets, word_photo_index
from weaksup.train import RECIPE_ARGS, check_resume_args, main, one_vs_all_class_weights

LN2, LN3 = math.log(2.0), math.log(3.0)


def hand_weights() -> ClassWeights:
    """Weights of N = 10 training photos and N_k = (2, 4, 4): harmonic mean H = 3 / (1/2 + 1/4 + 1/4) = 3."""
    return one_vs_all_weights(np.array([2, 4, 4]), num_photos=10)


def test_weights_by_hand():
    weights = one_vs_all_weights(np.array([2, 4, 4, 0]), num_photos=10)
    # H = 3 over the words with photos. Positive H / N_k; negative H / (N - N_k). Word 3 is never a positive.
    torch.testing.assert_close(weights.positive, torch.tensor([1.5, 0.75, 0.75, 0.0]))
    torch.testing.assert_close(weights.negative, torch.tensor([3 / 8, 3 / 6, 3 / 6, 3 / 10]))


def test_weights_of_word_in_every_photo():
    weights = one_vs_all_weights(np.array([5, 1]), num_photos=5)
    # H = 2 / (1/5 + 1) = 5/3. Word 0 is in all 5 photos, so it is never a negative.
    torch.testing.assert_close(weights.positive, torch.tensor([1 / 3, 5 / 3]))
    torch.testing.assert_close(weights.negative, torch.tensor([0.0, 5 / 12]))


@pytest.mark.parametrize(
    ("counts", "num_photos", "message"),
    [
        (np.array([2, -1]), 10, "must lie in 0..num_photos=10"),
        (np.array([2, 11]), 10, "must lie in 0..num_photos=10"),
        (np.array([0, 0]), 10, "no word has a training photo"),
        (np.array([1.0, 2.0]), 10, "1-D integer array"),
        (np.array([1, 2]), 0, "must lie in 0..num_photos=0"),
    ],
)
def test_weights_reject_invalid_counts(counts, num_photos, message):
    with pytest.raises(ValueError, match=message):
        one_vs_all_weights(counts, num_photos)


def test_loss_by_hand():
    logits = torch.tensor([[0.0, LN3, -LN3], [LN3, 0.0, 0.0]])
    words = torch.tensor([0, 2])
    # Binary logistic loss: log(1 + exp(-s)) for a positive, log(1 + exp(s)) for a negative.
    # Example 0, word 0: positive s=0 (1.5 log 2), negatives s=log 3 (0.5 log 4) and s=-log 3 (0.5 log 4/3).
    example0 = 1.5 * LN2 + 0.5 * math.log(4.0) + 0.5 * math.log(4.0 / 3.0)
    # Example 1, word 2: negatives s=log 3 (0.375 log 4) and s=0 (0.5 log 2), positive s=0 (0.75 log 2).
    example1 = 0.375 * math.log(4.0) + 0.5 * LN2 + 0.75 * LN2
    loss = full_one_vs_all_loss(logits, words, hand_weights())
    assert float(loss) == pytest.approx((example0 + example1) / 2)


def make_targets_for_weights() -> Targets:
    """10 training photos with N_k = (2, 4, 4) and photo 9 without words, plus 2 validation photos with word 0."""
    rows = [[0, 2], [0], [1], [1], [1], [1], [2], [2], [2], [], [0], [0]]
    split = np.array([TRAIN] * 10 + [VALIDATION] * 2, dtype=np.int8)
    indptr = np.concatenate([[0], np.cumsum([len(row) for row in rows])]).astype(np.int64)
    words = np.array([word for row in rows for word in row], dtype=np.int64)
    word_photos_indptr, word_photos = word_photo_index(indptr, words, split, 3)
    return Targets(indptr, words, split, word_photos_indptr, word_photos, 3)


def test_class_weights_from_targets():
    targets = make_targets_for_weights()
    sampler = ClassUniformSampler(targets, batch_size=4, seed=0)
    weights = one_vs_all_class_weights(targets, sampler, train_subset=None)
    torch.testing.assert_close(weights.positive, hand_weights().positive)
    torch.testing.assert_close(weights.negative, hand_weights().negative)


def test_class_weights_from_train_subset():
    targets = make_targets_for_weights()
    subset = np.array([0, 2, 3, 9])
    sampler = ClassUniformSampler(targets, batch_size=4, seed=0, train_subset=subset)
    weights = one_vs_all_class_weights(targets, sampler, train_subset=subset)
    # In the subset: N = 4, N_k = (1, 2, 1), H = 3 / (1 + 1/2 + 1) = 1.2.
    torch.testing.assert_close(weights.positive, torch.tensor([1.2, 0.6, 1.2]))
    torch.testing.assert_close(weights.negative, torch.tensor([0.4, 0.6, 0.4]))


def make_head(num_classes: int = 6, dim: int = 5, seed: int = 0) -> tuple[nn.Linear, ClassWeights]:
    torch.manual_seed(seed)
    counts = np.arange(1, num_classes + 1)
    return nn.Linear(dim, num_classes), one_vs_all_weights(counts, num_photos=4 * num_classes)


def test_restricted_equals_full_with_all_classes():
    layer, weights = make_head()
    head = OneVsAllHead(layer, weights)
    words = torch.tensor([5, 0, 3, 1, 4, 2, 2])
    embeddings = torch.randn(7, 5, requires_grad=True)
    full_embeddings = embeddings.detach().clone().requires_grad_()

    restricted = head.loss(embeddings, words)
    restricted.backward()
    full = full_one_vs_all_loss(layer(full_embeddings), words, weights)
    full.backward()

    classes, weight_rows, bias_rows = head._pending
    assert classes.tolist() == list(range(6))
    torch.testing.assert_close(restricted, full)
    torch.testing.assert_close(weight_rows.grad, layer.weight.grad)
    torch.testing.assert_close(bias_rows.grad, layer.bias.grad)
    torch.testing.assert_close(embeddings.grad, full_embeddings.grad)


def test_restricted_row_gradients_are_exact():
    # Each binary loss involves only its own row, so the rows in C get the full loss's gradient.
    layer, weights = make_head(num_classes=10)
    head = OneVsAllHead(layer, weights)
    words = torch.tensor([7, 2, 7, 4])
    embeddings = torch.randn(4, 5)
    head.loss(embeddings, words).backward()
    full_one_vs_all_loss(layer(embeddings), words, weights).backward()

    classes, weight_rows, bias_rows = head._pending
    assert classes.tolist() == [2, 4, 7]
    torch.testing.assert_close(weight_rows.grad, layer.weight.grad[classes])
    torch.testing.assert_close(bias_rows.grad, layer.bias.grad[classes])
    assert torch.count_nonzero(layer.weight.grad[[0, 1, 3, 5, 6, 8, 9]]) > 0


def test_expected_restricted_loss_scales_negatives():
    """Over every batch of B = 2 class-uniform draws from K' = 3 words, the negatives count with q = 1/3."""
    weights = hand_weights()
    # One fixed image per word, given directly by its logits.
    logits_of_word = torch.tensor([[0.3, -1.0, 0.5], [1.2, 0.1, -0.4], [-0.7, 0.9, 2.0]])
    identity = torch.eye(3)

    batch_losses = []
    for batch in itertools.product(range(3), repeat=2):
        words = torch.tensor(batch)
        classes = torch.unique(words)
        batch_losses.append(float(sampled_one_vs_all_loss(
            logits_of_word[words], words, classes, identity[classes], torch.zeros(len(classes)), weights
        )))

    q = 1 - (1 - 1 / 3) ** (2 - 1)
    scaled = ClassWeights(weights.positive, q * weights.negative)
    expected = full_one_vs_all_loss(logits_of_word, torch.arange(3), scaled)
    assert np.mean(batch_losses) == pytest.approx(float(expected))


def test_one_vs_all_step_leaves_other_rows_untouched():
    layer, weights = make_head(num_classes=8)
    head = OneVsAllHead(layer, weights, momentum=0.9, weight_decay=1e-3)
    weight_before = layer.weight.detach().clone()
    head.loss(torch.randn(4, 5), torch.tensor([2, 6, 2, 3])).backward()
    head.step(lr=0.5)
    untouched = [0, 1, 4, 5, 7]
    assert layer.weight.grad is None
    assert torch.equal(layer.weight[untouched], weight_before[untouched])
    for row in (2, 3, 6):
        assert not torch.equal(layer.weight[row], weight_before[row]), row


def test_one_vs_all_step_matches_dense_sgd():
    sparse_layer, weights = make_head()
    dense_layer, _ = make_head()
    head = OneVsAllHead(sparse_layer, weights, momentum=0.9, weight_decay=0.01)
    optimizer = torch.optim.SGD(dense_layer.parameters(), lr=0.3, momentum=0.9, weight_decay=0.01)
    words = torch.tensor([0, 1, 2, 3, 4, 5])
    for _ in range(3):
        embeddings = torch.randn(6, 5)
        head.loss(embeddings, words).backward()
        head.step(lr=0.3)
        optimizer.zero_grad()
        full_one_vs_all_loss(dense_layer(embeddings), words, weights).backward()
        optimizer.step()
    torch.testing.assert_close(sparse_layer.weight, dense_layer.weight)
    torch.testing.assert_close(sparse_layer.bias, dense_layer.bias)


def test_one_vs_all_learns_toy_problem():
    torch.manual_seed(1)
    num_classes, dim = 30, 8
    centers = torch.randn(num_classes, dim) * 3
    # Zipf-like photo counts, so the positive weights span a factor of 30.
    weights = one_vs_all_weights((3000 / np.arange(1, num_classes + 1)).astype(np.int64), num_photos=20000)
    trunk = nn.Sequential(nn.Linear(dim, 16), nn.ReLU(), nn.Linear(16, 16))
    layer = nn.Linear(16, num_classes)
    head = OneVsAllHead(layer, weights, momentum=0.9)
    optimizer = torch.optim.SGD(trunk.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(300):
        words = torch.randint(0, num_classes, (16,))
        loss = head.loss(trunk(centers[words] + 0.3 * torch.randn(16, dim)), words)
        optimizer.zero_grad()
        loss.backward()
        head.step(lr=0.1)
        optimizer.step()
        losses.append(float(loss.detach()))

    words = torch.arange(num_classes).repeat(10)
    with torch.no_grad():
        predicted = layer(trunk(centers[words] + 0.3 * torch.randn(len(words), dim))).argmax(dim=1)
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    # Ranking by logits over all 30 words, against 1/30 by chance.
    assert float((predicted == words).float().mean()) > 0.7


def test_loss_with_large_logits():
    loss = one_vs_all_loss(torch.tensor([[200.0, -200.0]]), torch.tensor([1]), torch.ones(2), torch.ones(2))
    # Positive at -200 and negative at 200: each costs about 200.
    assert float(loss) == pytest.approx(400.0)


def test_head_rejects_weights_of_other_size():
    layer, weights = make_head(num_classes=6)
    with pytest.raises(ValueError, match=r"positive class weights have shape \(6,\), expected \(4,\)"):
        OneVsAllHead(nn.Linear(5, 4), weights)


def test_make_sparse_head_checks_loss():
    layer, weights = make_head()
    assert isinstance(make_sparse_head("one_vs_all", layer, class_weights=weights), OneVsAllHead)
    with pytest.raises(ValueError, match="needs class weights"):
        make_sparse_head("one_vs_all", layer)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        make_sparse_head("hinge", layer)


def test_resume_check_treats_old_checkpoints_as_multiclass():
    config = {key: 1 for key in RECIPE_ARGS}
    config.update(arch="alexnet", num_classes=10, width=0.1, embedding_dim=32, dropout=0.5, loss="multiclass",
                  aux_weight=0.3)
    saved = {key: value for key, value in config.items() if key not in ("loss", "aux_weight")}
    check_resume_args(saved, config)
    with pytest.raises(ValueError, match="checkpoint was made with loss='multiclass'"):
        check_resume_args(saved, {**config, "loss": "one_vs_all"})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    return write_tiny_corpus(tmp_path_factory.mktemp("tiny"))


def test_one_vs_all_training_writes_scorable_model(corpus, tmp_path):
    run_dir = tmp_path / "run"
    assert main(train_args(corpus, run_dir, "--loss", "one_vs_all", "--max-epochs", "1")) == 0

    assert json.loads((run_dir / "args.json").read_text())["loss"] == "one_vs_all"
    _, meta = load_model(run_dir / "model.pt")
    assert meta["loss"] == "one_vs_all"
    record = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
    assert math.isfinite(record["train_loss"])
    assert math.isfinite(record["validation_error"])

    corpus_dir, targets_path = corpus
    result = evaluate_word_prediction(run_dir / "model.pt", corpus_dir, targets_path, split="test", ks=(1, 5),
                                      workers=0, device="cpu")
    assert result["photos_evaluated"] > 0
    assert 0.0 <= result["precision@5"] <= 1.0


def test_resume_rejects_other_loss(corpus, tmp_path):
    run_dir = tmp_path / "run"
    assert main(train_args(corpus, run_dir, "--max-steps", "1")) == 0
    with pytest.raises(ValueError, match="checkpoint was made with loss='multiclass' but this run has "
                                         "loss='one_vs_all'"):
        main(train_args(corpus, run_dir, "--loss", "one_vs_all"))
