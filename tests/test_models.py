"""Tests of the AlexNet variant, the architecture registry and model files."""

from __future__ import annotations

import pytest
import torch
import torchvision

from weaksup.models import (
    ALEXNET_MIN_INPUT,
    MODEL_BUILDERS,
    AlexNet,
    GoogLeNet,
    ModelSpec,
    TrunkOutput,
    build_model,
    load_model,
    save_model,
)


def test_alexnet_matches_torchvision_layout():
    ours = AlexNet(num_classes=10).state_dict()
    reference = torchvision.models.alexnet(weights=None, num_classes=10).state_dict()
    assert list(ours) == list(reference)
    for name in reference:
        assert ours[name].shape == reference[name].shape, name


def test_alexnet_matches_torchvision_output():
    torch.manual_seed(0)
    ours = AlexNet(num_classes=10).eval()
    reference = torchvision.models.alexnet(weights=None, num_classes=10).eval()
    reference.load_state_dict(ours.state_dict())
    images = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(images), reference(images))


def test_small_alexnet_shapes():
    model = AlexNet(num_classes=7, width=0.1, embedding_dim=32).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = model.penultimate(images)
        logits = model(images)
    assert features.shape == (2, 32)
    assert logits.shape == (2, 7)
    assert model.head.weight.shape == (7, 32)
    torch.testing.assert_close(logits, model.head(features))


def test_width_scales_conv_channels():
    model = AlexNet(num_classes=3, width=0.5, embedding_dim=16)
    channels = [layer.out_channels for layer in model.features if isinstance(layer, torch.nn.Conv2d)]
    assert channels == [32, 96, 192, 128, 128]
    assert model.classifier[1].in_features == 128 * 6 * 6


def test_trunk_shares_parameters_without_head():
    model = AlexNet(num_classes=5, width=0.1, embedding_dim=16)
    trunk_ids = {id(p) for p in model.trunk().parameters()}
    model_ids = {id(p) for p in model.parameters()}
    head_ids = {id(model.head.weight), id(model.head.bias)}
    assert trunk_ids == model_ids - head_ids
    assert len(trunk_ids) == len(model_ids) - 2


def test_alexnet_trunk_output():
    model = AlexNet(num_classes=5, width=0.1, embedding_dim=16).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        output = model.trunk()(images)
        expected = model.penultimate(images)
    assert isinstance(output, TrunkOutput)
    assert output.aux_features == []
    assert model.aux_heads == []
    torch.testing.assert_close(output.features, expected)


def test_alexnet_rejects_small_input():
    model = AlexNet(num_classes=5, width=0.1, embedding_dim=16)
    with pytest.raises(ValueError, match="at least 63x63"):
        model(torch.randn(1, 3, ALEXNET_MIN_INPUT - 1, ALEXNET_MIN_INPUT - 1))
    assert model.penultimate(torch.randn(1, 3, ALEXNET_MIN_INPUT, ALEXNET_MIN_INPUT)).shape == (1, 16)


def test_build_model_records_spec():
    model = build_model("alexnet", 9, width=0.1, embedding_dim=8)
    assert model.spec == ModelSpec("alexnet", 9, {"width": 0.1, "embedding_dim": 8})
    assert model.head.out_features == 9


def test_registry_has_both_architectures():
    assert MODEL_BUILDERS == {"alexnet": AlexNet, "googlenet": GoogLeNet}
    model = build_model("googlenet", 9, width=0.1)
    assert model.spec == ModelSpec("googlenet", 9, {"width": 0.1})
    assert len(model.aux_heads) == 2
    assert model.head.out_features == 9


def test_build_model_unknown_arch():
    with pytest.raises(ValueError, match="unknown architecture 'vgg'"):
        build_model("vgg", 10)


def test_model_file_round_trip(tmp_path):
    model = build_model("alexnet", 6, width=0.1, embedding_dim=8)
    path = tmp_path / "model.pt"
    save_model(path, model, {"crop_size": 64, "dictionary": "dict.tsv"})
    loaded, meta = load_model(path)
    assert meta == {"crop_size": 64, "dictionary": "dict.tsv"}
    assert loaded.spec == model.spec
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_save_model_needs_spec(tmp_path):
    with pytest.raises(ValueError, match="no ModelSpec"):
        save_model(tmp_path / "model.pt", AlexNet(num_classes=3, width=0.1, embedding_dim=8))
