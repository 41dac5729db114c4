"""Tests of the GoogLeNet variant: torchvision layout, auxiliary classifiers, sparse heads and a short training run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from test_train_resume import RANK_CHECK_SCRIPT, train_args, write_tiny_corpus

from weaksup.checkpoint import load_checkpoint
from weaksup.evaluate import evaluate_word_prediction
from weaksup.losses import SampledSoftmaxHead
from weaksup.models import (
    GOOGLENET_MIN_INPUT,
    GoogLeNet,
    ModelSpec,
    build_model,
    load_model,
    save_model,
    without_aux_classifiers,
)
from weaksup.schedule import HalvingSchedule
from weaksup.train import TrainingState, main, train_step

DEMO_CROP = 64


@pytest.fixture(scope="module")
def full_width_pair() -> tuple[GoogLeNet, torch.nn.Module]:
    """Return our GoogLeNet at width 1 and torchvision's, both with 10 classes and their own initial weights."""
    torch.manual_seed(0)
    reference = torchvision.models.googlenet(weights=None, num_classes=10, aux_logits=True, init_weights=True)
    return GoogLeNet(num_classes=10), reference


def test_googlenet_matches_torchvision_layout(full_width_pair):
    ours, reference = (model.state_dict() for model in full_width_pair)
    assert list(ours) == list(reference)
    for name in reference:
        assert ours[name].shape == reference[name].shape, name


def test_googlenet_matches_torchvision_outputs(full_width_pair):
    ours, reference = full_width_pair
    reference.load_state_dict(ours.state_dict())
    # Any input from the minimum size up exercises every layer; 32 pixels keeps the test fast.
    images = torch.randn(2, 3, 32, 32)

    ours.eval()
    reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(images), reference(images))

    # Training mode: the same dropout masks when both draw from the same seed, in the same order.
    ours.train()
    reference.train()
    with torch.no_grad():
        torch.manual_seed(1)
        expected = reference(images)
        torch.manual_seed(1)
        output = ours.trunk()(images)
    torch.testing.assert_close(ours.head(output.features), expected.logits)
    torch.testing.assert_close(ours.aux_heads[0](output.aux_features[0]), expected.aux_logits1)
    torch.testing.assert_close(ours.aux_heads[1](output.aux_features[1]), expected.aux_logits2)


def test_narrow_googlenet_shapes_at_demo_crop():
    model = GoogLeNet(num_classes=7, width=0.25).eval()
    images = torch.randn(2, 3, DEMO_CROP, DEMO_CROP)
    with torch.no_grad():
        features = model.penultimate(images)
        logits = model(images)
    assert features.shape == (2, 256)
    assert logits.shape == (2, 7)
    assert model.head.weight.shape == (7, 256)
    assert [head.weight.shape for head in model.aux_heads] == [(7, 256), (7, 256)]
    torch.testing.assert_close(logits, model.head(features))


def test_aux_features_only_in_training_mode():
    model = GoogLeNet(num_classes=5, width=0.1)
    trunk = model.trunk()
    images = torch.randn(3, 3, DEMO_CROP, DEMO_CROP)

    model.train()
    output = trunk(images)
    assert len(output.aux_features) == 2
    for features, head in zip(output.aux_features, model.aux_heads):
        assert features.shape == (3, head.in_features)
    assert model(images).shape == (3, 5)

    model.eval()
    with torch.no_grad():
        output = trunk(images)
        logits = model(images)
    assert output.aux_features == []
    assert output.features.shape == (3, model.head.in_features)
    assert logits.shape == (3, 5)


def test_googlenet_trunk_excludes_all_heads():
    model = GoogLeNet(num_classes=5, width=0.1)
    trunk_ids = {id(p) for p in model.trunk().parameters()}
    model_ids = {id(p) for p in model.parameters()}
    head_ids = {id(p) for layer in [model.head, *model.aux_heads] for p in layer.parameters()}
    assert len(head_ids) == 6
    assert trunk_ids == model_ids - head_ids


def test_googlenet_rejects_small_input():
    model = GoogLeNet(num_classes=5, width=0.1).eval()
    with pytest.raises(ValueError, match="at least 15x15"):
        model(torch.randn(1, 3, GOOGLENET_MIN_INPUT - 1, GOOGLENET_MIN_INPUT - 1))
    with torch.no_grad():
        assert model(torch.randn(1, 3, GOOGLENET_MIN_INPUT, GOOGLENET_MIN_INPUT)).shape == (1, 5)


def test_googlenet_checks_embedding_dim():
    assert GoogLeNet(num_classes=3, width=0.25, embedding_dim=256).head.in_features == 256
    with pytest.raises(ValueError, match="256-dimensional penultimate features"):
        GoogLeNet(num_classes=3, width=0.25, embedding_dim=512)


def test_googlenet_init_small_heads():
    torch.manual_seed(0)
    model = GoogLeNet(num_classes=1000, width=0.25)
    for head in [model.head, *model.aux_heads]:
        assert float(head.weight.detach().std()) == pytest.approx(0.01, rel=0.05)
        assert torch.count_nonzero(head.bias) == 0
    # He initialisation of the auxiliary hidden layer: std sqrt(2 / fan_in).
    fc1 = model.aux1.fc1
    assert float(fc1.weight.detach().std()) == pytest.approx((2 / fc1.in_features) ** 0.5, rel=0.05)


def test_train_step_leaves_other_head_rows_untouched():
    torch.manual_seed(0)
    model = build_model("googlenet", 40, width=0.1)
    trunk = model.trunk()
    heads = [SampledSoftmaxHead(layer, momentum=0.9, weight_decay=1e-3) for layer in [model.head, *model.aux_heads]]
    optimizer = torch.optim.SGD(trunk.parameters(), lr=0.1, momentum=0.9)
    state = TrainingState(model, trunk, heads[0], heads[1:], optimizer, HalvingSchedule(0.1, 1, 1e-6, None))
    before = [layer.weight.detach().clone() for layer in [model.head, *model.aux_heads]]
    words = torch.tensor([3, 17, 3, 25])

    model.train()
    losses = train_step(state, torch.randn(4, 3, DEMO_CROP, DEMO_CROP), words, lr=0.1, seed=0, rank=0, aux_weight=0.3)

    assert len(losses) == 4
    assert losses[0] == pytest.approx(losses[1] + 0.3 * (losses[2] + losses[3]), rel=1e-5)
    untouched = [row for row in range(40) if row not in (3, 17, 25)]
    for index, layer in enumerate([model.head, *model.aux_heads]):
        assert layer.weight.grad is None, index
        assert torch.equal(layer.weight[untouched], before[index][untouched]), index
        for row in (3, 17, 25):
            assert not torch.equal(layer.weight[row], before[index][row]), (index, row)


def test_without_aux_classifiers_round_trip(tmp_path):
    model = build_model("googlenet", 6, width=0.1).eval()
    inference = without_aux_classifiers(model)
    assert inference.spec == ModelSpec("googlenet", 6, {"width": 0.1, "aux_logits": False})
    assert inference.aux_heads == []
    assert not any(name.startswith("aux") for name in inference.state_dict())
    for name, tensor in inference.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name

    save_model(tmp_path / "model.pt", inference, {"crop_size": DEMO_CROP})
    loaded, _ = load_model(tmp_path / "model.pt")
    images = torch.randn(2, 3, DEMO_CROP, DEMO_CROP)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(images), model(images))


def test_without_aux_classifiers_keeps_alexnet():
    model = build_model("alexnet", 6, width=0.1, embedding_dim=8)
    assert without_aux_classifiers(model) is model


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    return write_tiny_corpus(tmp_path_factory.mktemp("tiny"))


def googlenet_args(corpus: tuple[Path, Path], run_dir: Path, *extra: str) -> list[str]:
    """Return the tiny training arguments with --arch googlenet, without AlexNet's --embedding-dim."""
    # One epoch of 4 steps keeps the runs short.
    args = train_args(corpus, run_dir, "--arch", "googlenet", "--max-epochs", "1", *extra)
    position = args.index("--embedding-dim")
    return args[:position] + args[position + 2 :]


@pytest.fixture(scope="module")
def googlenet_run(corpus, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("googlenet")
    assert main(googlenet_args(corpus, run_dir)) == 0
    return run_dir


def test_googlenet_training_writes_scorable_model(corpus, googlenet_run):
    model, meta = load_model(googlenet_run / "model.pt")
    assert model.spec.arch == "googlenet"
    assert model.aux_heads == []
    assert meta["loss"] == "multiclass"

    checkpoint = load_checkpoint(googlenet_run)
    assert len(checkpoint["aux_heads"]) == 2
    assert any(name.startswith("aux1.") for name in checkpoint["model"])
    metrics = [json.loads(line) for line in (googlenet_run / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in metrics] == [1]
    # The total adds 0.3 x each auxiliary loss, so it exceeds the main head's loss.
    assert metrics[0]["train_loss"] > metrics[0]["train_main_loss"]

    corpus_dir, targets_path = corpus
    result = evaluate_word_prediction(googlenet_run / "model.pt", corpus_dir, targets_path, split="test",
                                      ks=(1, 5), workers=0, device="cpu")
    assert result["photos_evaluated"] > 0
    assert 0.0 <= result["precision@5"] <= 1.0


def test_googlenet_resume_is_bit_identical(corpus, googlenet_run, tmp_path):
    run_dir = tmp_path / "resumed"
    assert main(googlenet_args(corpus, run_dir, "--max-steps", "3")) == 0
    assert load_checkpoint(run_dir)["step"] == 3
    assert main(googlenet_args(corpus, run_dir)) == 0

    expected, _ = load_model(googlenet_run / "model.pt")
    resumed, _ = load_model(run_dir / "model.pt")
    for name, tensor in expected.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], tensor), name


def test_googlenet_rejects_alexnet_embedding_dim(corpus, tmp_path):
    with pytest.raises(ValueError, match="leave embedding_dim unset"):
        main(googlenet_args(corpus, tmp_path / "run", "--embedding-dim", "64"))


@pytest.mark.slow
def test_googlenet_two_ranks_stay_identical(corpus, tmp_path):
    """torchrun with 2 CPU ranks: trunk, batch-norm statistics and all three heads end equal on both ranks."""
    script = tmp_path / "rank_check.py"
    script.write_text(RANK_CHECK_SCRIPT)
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
               *googlenet_args(corpus, run_dir)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]

    rank0 = torch.load(run_dir / "rank0.pt")
    rank1 = torch.load(run_dir / "rank1.pt")
    assert len(rank0) == len(rank1)
    for index, (first, second) in enumerate(zip(rank0, rank1)):
        assert torch.equal(first, second), index
    assert (run_dir / "model.pt").exists()
