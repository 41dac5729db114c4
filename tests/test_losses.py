"""Tests of the sampled multiclass logistic loss and its sparse SGD update."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from weaksup.losses import (
    SampledSoftmaxHead,
    batch_classes,
    full_softmax_loss,
    multilabel_softmax_error,
    target_mask,
)


def make_layer(num_classes: int = 6, dim: int = 5, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(dim, num_classes)


def test_batch_classes_sorted_unique():
    assert batch_classes(torch.tensor([4, 1, 4, 0])).tolist() == [0, 1, 4]


def test_sampled_loss_equals_full_with_all_classes():
    layer = make_layer()
    head = SampledSoftmaxHead(layer)
    words = torch.tensor([5, 0, 3, 1, 4, 2, 2])
    embeddings = torch.randn(7, 5, requires_grad=True)
    full_embeddings = embeddings.detach().clone().requires_grad_()

    sampled = head.loss(embeddings, words)
    sampled.backward()
    full = full_softmax_loss(layer(full_embeddings), words)
    full.backward()

    classes, weight_rows, bias_rows = head._pending
    assert classes.tolist() == list(range(6))
    torch.testing.assert_close(sampled, full)
    torch.testing.assert_close(weight_rows.grad, layer.weight.grad)
    torch.testing.assert_close(bias_rows.grad, layer.bias.grad)
    torch.testing.assert_close(embeddings.grad, full_embeddings.grad)


def test_sampled_loss_restricts_softmax_to_batch_words():
    layer = make_layer()
    head = SampledSoftmaxHead(layer)
    words = torch.tensor([4, 1, 4])
    embeddings = torch.randn(3, 5)
    columns = torch.tensor([1, 4])
    expected = full_softmax_loss(layer(embeddings)[:, columns], torch.tensor([1, 0, 1]))
    torch.testing.assert_close(head.loss(embeddings, words), expected)


def test_loss_over_given_classes():
    layer = make_layer()
    head = SampledSoftmaxHead(layer)
    words = torch.tensor([4, 1, 4])
    embeddings = torch.randn(3, 5)
    # A class set shared by several heads may hold words that no example of this batch drew.
    classes = torch.tensor([0, 1, 4])
    expected = full_softmax_loss(layer(embeddings)[:, classes], torch.tensor([2, 1, 2]))
    torch.testing.assert_close(head.loss(embeddings, words, classes), expected)
    assert head._pending[0] is classes


def test_step_leaves_other_rows_bit_identical():
    layer = make_layer(num_classes=8)
    head = SampledSoftmaxHead(layer, momentum=0.9, weight_decay=1e-3)
    weight_before = layer.weight.detach().clone()
    bias_before = layer.bias.detach().clone()

    head.loss(torch.randn(4, 5), torch.tensor([2, 6, 2, 3])).backward()
    head.step(lr=0.5)

    untouched = [0, 1, 4, 5, 7]
    touched = [2, 3, 6]
    assert torch.equal(layer.weight[untouched], weight_before[untouched])
    assert torch.equal(layer.bias[untouched], bias_before[untouched])
    assert torch.equal(head.momentum_weight[untouched], torch.zeros(5, 5))
    for row in touched:
        assert not torch.equal(layer.weight[row], weight_before[row]), row


def test_step_matches_torch_sgd_with_all_classes():
    sparse_layer = make_layer()
    dense_layer = make_layer()
    head = SampledSoftmaxHead(sparse_layer, momentum=0.9, weight_decay=0.01)
    optimizer = torch.optim.SGD(dense_layer.parameters(), lr=0.3, momentum=0.9, weight_decay=0.01)
    words = torch.tensor([0, 1, 2, 3, 4, 5])
    for _ in range(3):
        embeddings = torch.randn(6, 5)
        head.loss(embeddings, words).backward()
        head.step(lr=0.3)
        optimizer.zero_grad()
        full_softmax_loss(dense_layer(embeddings), words).backward()
        optimizer.step()
    torch.testing.assert_close(sparse_layer.weight, dense_layer.weight)
    torch.testing.assert_close(sparse_layer.bias, dense_layer.bias)


def test_no_dense_gradient_on_head():
    layer = make_layer(num_classes=1000)
    head = SampledSoftmaxHead(layer)
    head.loss(torch.randn(3, 5), torch.tensor([10, 500, 10])).backward()
    _, weight_rows, _ = head._pending
    assert layer.weight.grad is None
    assert weight_rows.grad.shape == (2, 5)


def test_step_requires_backward():
    head = SampledSoftmaxHead(make_layer())
    head.loss(torch.randn(2, 5), torch.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="before backward"):
        head.step(lr=0.1)


def test_loss_decreases_on_toy_problem():
    torch.manual_seed(1)
    num_classes, dim = 30, 8
    centers = torch.randn(num_classes, dim) * 3
    trunk = nn.Sequential(nn.Linear(dim, 16), nn.ReLU(), nn.Linear(16, 16))
    head = SampledSoftmaxHead(nn.Linear(16, num_classes), momentum=0.9)
    optimizer = torch.optim.SGD(trunk.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(200):
        words = torch.randint(0, num_classes, (16,))
        inputs = centers[words] + 0.3 * torch.randn(16, dim)
        loss = head.loss(trunk(inputs), words)
        optimizer.zero_grad()
        loss.backward()
        head.step(lr=0.05)
        optimizer.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-20:]) / 20 < 0.5 * sum(losses[:20]) / 20


def test_head_state_round_trip():
    layer = make_layer()
    head = SampledSoftmaxHead(layer, momentum=0.9)
    head.loss(torch.randn(2, 5), torch.tensor([1, 3])).backward()
    head.step(lr=0.1)
    restored = SampledSoftmaxHead(make_layer(), momentum=0.9)
    restored.load_state_dict(head.state_dict())
    assert torch.equal(restored.momentum_weight, head.momentum_weight)
    assert torch.equal(restored.momentum_bias, head.momentum_bias)


def test_head_state_rejects_missing_momentum():
    state = SampledSoftmaxHead(make_layer(), momentum=0.0).state_dict()
    with pytest.raises(ValueError, match="momentum_weight"):
        SampledSoftmaxHead(make_layer(), momentum=0.9).load_state_dict(state)


def test_multilabel_softmax_error_by_hand():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [math.log(3.0), 0.0, 0.0, -math.inf]])
    mask = target_mask([[1, 2], [0]], num_classes=4)
    errors = multilabel_softmax_error(logits, mask)
    # Row 0: uniform over 4 words. Row 1: probabilities 3/5, 1/5, 1/5, 0 and the target is word 0.
    torch.testing.assert_close(errors, torch.tensor([math.log(4.0), math.log(5.0 / 3.0)]))


def test_target_mask_layout():
    mask = target_mask([[0, 2], [], [1]], num_classes=3)
    assert mask.tolist() == [[True, False, True], [False, False, False], [False, True, False]]
