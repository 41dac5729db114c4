import pytest
import torch
import torchvision

from weaksup.models import load_model
from weaksup.pretrained import import_torchvision_model


@pytest.mark.parametrize("arch", ["alexnet", "googlenet"])
def test_torchvision_state_dict_imports(tmp_path, arch):
    builder = getattr(torchvision.models, arch)
    options = {"aux_logits": True, "init_weights": True} if arch == "googlenet" else {}
    reference = builder(num_classes=1000, **options)
    torch.save(reference.state_dict(), tmp_path / "weights.pth")

    import_torchvision_model(arch, tmp_path / "weights.pth", tmp_path / "model.pt", crop_size=224)
    model, meta = load_model(tmp_path / "model.pt")
    assert meta["crop_size"] == 224
    for name, tensor in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_mismatched_weights_are_rejected(tmp_path):
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "weights.pth")
    with pytest.raises(ValueError, match="does not match torchvision's alexnet"):
        import_torchvision_model("alexnet", tmp_path / "weights.pth", tmp_path / "model.pt", crop_size=224)
