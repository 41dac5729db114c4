"""Network architectures for word prediction, a registry to build them by name, and model files.

Joulin et al. (ECCV 2016) use the torchvision architectures unchanged except for the size of the final layer, which
has one output per dictionary word. That final layer's weight is also the word embedding: row k of
`head.weight` (K x E, the transpose of the paper's E x K matrix W) is the embedding of word k.

Every model here exposes the same three pieces so that training can treat the final layer separately (it is
updated sparsely, see `weaksup.losses`):

- `head`: the final `nn.Linear(E, K)`;
- `trunk()`: a module that shares the model's parameters except the head and maps images to the E-dimensional
  penultimate features;
- `penultimate(x)` and `forward(x)`: penultimate features and full logits.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from weaksup.atomic import atomic_open

log = logging.getLogger(__name__)

MODEL_FILE_VERSION = 1

# Channels of the five convolutions of torchvision's AlexNet (the one-GPU variant of Krizhevsky et al. 2012).
ALEXNET_CHANNELS = (64, 192, 384, 256, 256)
ALEXNET_POOLED_SIZE = 6
# The smallest square input for which the third max-pooling still has a 1x1 input window: 63 -> 15 -> 7 -> 3 -> 1.
ALEXNET_MIN_INPUT = 63


class AlexNet(nn.Module):
    """torchvision's AlexNet with scalable widths.

    Module names and indices equal torchvision's (`features`, `avgpool`, `classifier`, with the final Linear at
    `classifier.6`), so at `width=1` and `embedding_dim=4096` the state_dict keys and shapes are those of
    `torchvision.models.alexnet(num_classes=num_classes)`. `width` scales the convolution channels and
    `embedding_dim` sets both hidden fully connected layers, whose output is the penultimate feature E.
    """

    def __init__(self, num_classes: int, width: float = 1.0, embedding_dim: int = 4096, dropout: float = 0.5):
        super().__init__()
        if num_classes < 1 or embedding_dim < 1 or width <= 0:
            raise ValueError(
                f"invalid AlexNet size: num_classes={num_classes}, embedding_dim={embedding_dim}, width={width}; "
                "all must be positive"
            )
        c1, c2, c3, c4, c5 = (max(1, round(channels * width)) for channels in ALEXNET_CHANNELS)
        self.features = nn.Sequential(
            nn.Conv2d(3, c1, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((ALEXNET_POOLED_SIZE, ALEXNET_POOLED_SIZE))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(c5 * ALEXNET_POOLED_SIZE * ALEXNET_POOLED_SIZE, embedding_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(embedding_dim, embedding_dim),
            nn.ReLU(inplace=True),
            nn.Linear(embedding_dim, num_classes),
        )
        init_relu_network(self, self.head)

    @property
    def head(self) -> nn.Linear:
        return self.classifier[6]

    def trunk(self) -> nn.Module:
        return _AlexNetTrunk(self)

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (N, 3, H, W) to penultimate features (N, E), the input of the head."""
        return _alexnet_penultimate(self.features, self.avgpool, self.classifier[:6], x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.penultimate(x))


# Standard deviation of the head's initial weights: small, so that the first softmax is close to uniform.
HEAD_INIT_STD = 0.01


def init_relu_network(model: nn.Module, head: nn.Linear) -> None:
    """Initialise convolutions and hidden layers with He et al. (2015) normal weights, the head with small ones.

    Joulin et al. do not state their initialisation. PyTorch's default (uniform with a = sqrt(5)) shrinks the
    activations by a constant factor per ReLU layer, and through AlexNet's seven layers without normalisation the
    penultimate features start near zero, so training from scratch stalls; He initialisation keeps their scale.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and module is not head:
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(module.bias)
    nn.init.normal_(head.weight, std=HEAD_INIT_STD)
    nn.init.zeros_(head.bias)


class _AlexNetTrunk(nn.Module):
    """Every layer of an AlexNet except its head, sharing the model's parameter tensors (no copies)."""

    def __init__(self, model: AlexNet):
        super().__init__()
        self.features = model.features
        self.avgpool = model.avgpool
        self.hidden = model.classifier[:6]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _alexnet_penultimate(self.features, self.avgpool, self.hidden, x)


def _alexnet_penultimate(features: nn.Module, avgpool: nn.Module, hidden: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if min(x.shape[-2:]) < ALEXNET_MIN_INPUT:
        raise ValueError(
            f"AlexNet needs inputs of at least {ALEXNET_MIN_INPUT}x{ALEXNET_MIN_INPUT} pixels, "
            f"got {tuple(x.shape[-2:])}; raise the crop size"
        )
    x = avgpool(features(x))
    return hidden(torch.flatten(x, 1))


# Registry of architectures by name. A builder takes num_classes and keyword options and returns a model with
# `head`, `trunk()` and `penultimate()` as described in the module docstring.
# TODO: register GoogLeNet. Its auxiliary classifier has a second K-way layer that training must also update sparsely.
MODEL_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "alexnet": AlexNet,
}


@dataclass
class ModelSpec:
    """Recipe that `build_model` rebuilds a model from: architecture name, dictionary size and builder options."""

    arch: str
    num_classes: int
    options: dict[str, Any] = field(default_factory=dict)


def build_model(arch: str, num_classes: int, **options: Any) -> nn.Module:
    """Build a registered architecture and attach its `ModelSpec` as `model.spec`."""
    builder = MODEL_BUILDERS.get(arch)
    if builder is None:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(sorted(MODEL_BUILDERS))}")
    model = builder(num_classes, **options)
    model.spec = ModelSpec(arch, num_classes, dict(options))
    return model


def save_model(path: str | os.PathLike, model: nn.Module, meta: dict[str, Any] | None = None) -> None:
    """Write a model file atomically: its `ModelSpec`, the state_dict on CPU, and `meta`.

    `meta` contains what evaluation needs besides the weights, for example `crop_size` and `dictionary` (the path of
    the dictionary file). Its values must be plain Python types, which `torch.load(weights_only=True)` accepts.
    """
    spec = getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise ValueError("the model has no ModelSpec; build it with weaksup.models.build_model")
    payload = {
        "format_version": MODEL_FILE_VERSION,
        **asdict(spec),
        "meta": dict(meta or {}),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
    }
    with atomic_open(path, "wb") as handle:
        torch.save(payload, handle)
    log.info("wrote model %s (%s, %d classes)", path, spec.arch, spec.num_classes)


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved by `save_model` and return it with its `meta` dict."""
    payload = torch.load(path, map_location=map_location, weights_only=True)
    version = payload.get("format_version")
    if version != MODEL_FILE_VERSION:
        raise ValueError(f"{path}: model file format {version!r}, expected {MODEL_FILE_VERSION}; retrain or convert it")
    model = build_model(payload["arch"], payload["num_classes"], **payload["options"])
    model.load_state_dict(payload["state_dict"])
    return model, payload["meta"]
