"""Network architectures for word prediction, a registry to build them by name, and model files.

Joulin et al. (ECCV 2016) use the torchvision architectures unchanged except for the size of the final layer, which
has one output per dictionary word. That final layer's weight is also the word embedding: row k of
`head.weight` (K x E, the transpose of the paper's E x K matrix W) is the embedding of word k.

Every model here exposes the same pieces so that training can treat the K-way layers separately (they are
updated sparsely, see `weaksup.losses`):

- `head`: the final `nn.Linear(E, K)`;
- `aux_heads`: the K-way last layers of the auxiliary classifiers, which are trained like `head` (empty for AlexNet);
- `trunk()`: a module that shares the model's parameters except `head` and `aux_heads`. It maps images to a
  `TrunkOutput`, which contains the E-dimensional penultimate features and the input features of each auxiliary
  head in `aux_heads` order. The second list is empty in evaluation mode and for models without auxiliary heads;
- `penultimate(x)` and `forward(x)`: penultimate features and the logits of `head`, in either mode.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from weaksup.atomic import atomic_open

log = logging.getLogger(__name__)

MODEL_FILE_VERSION = 1


class TrunkOutput(NamedTuple):
    """Output of a trunk: penultimate features (N, E) and the input features of each auxiliary head."""

    features: torch.Tensor
    aux_features: list[torch.Tensor]


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
        init_relu_network(self, [self.head])

    @property
    def head(self) -> nn.Linear:
        return self.classifier[6]

    @property
    def aux_heads(self) -> list[nn.Linear]:
        return []

    def trunk(self) -> nn.Module:
        return _AlexNetTrunk(self)

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (N, 3, H, W) to penultimate features (N, E), the input of the head."""
        return _alexnet_penultimate(self.features, self.avgpool, self.classifier[:6], x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.penultimate(x))


# Standard deviation of the head's initial weights: small, so that the first softmax is close to uniform.
HEAD_INIT_STD = 0.01


def init_relu_network(model: nn.Module, heads: Sequence[nn.Linear]) -> None:
    """Initialise convolutions and hidden layers with He et al. (2015) normal weights, the K-way heads with small ones.

    Joulin et al. do not state their initialisation. PyTorch's default (uniform with a = sqrt(5)) shrinks the
    activations by a constant factor per ReLU layer, and through AlexNet's seven layers without normalisation the
    penultimate features start near zero, so training from scratch stalls; He initialisation keeps their scale.
    Batch normalisation layers keep PyTorch's initial weight 1 and bias 0.
    """
    head_ids = {id(head) for head in heads}
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and id(module) not in head_ids:
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    for head in heads:
        nn.init.normal_(head.weight, std=HEAD_INIT_STD)
        nn.init.zeros_(head.bias)


class _AlexNetTrunk(nn.Module):
    """Every layer of an AlexNet except its head, sharing the model's parameter tensors (no copies)."""

    def __init__(self, model: AlexNet):
        super().__init__()
        self.features = model.features
        self.avgpool = model.avgpool
        self.hidden = model.classifier[:6]

    def forward(self, x: torch.Tensor) -> TrunkOutput:
        return TrunkOutput(_alexnet_penultimate(self.features, self.avgpool, self.hidden, x), [])


def _alexnet_penultimate(features: nn.Module, avgpool: nn.Module, hidden: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if min(x.shape[-2:]) < ALEXNET_MIN_INPUT:
        raise ValueError(
            f"AlexNet needs inputs of at least {ALEXNET_MIN_INPUT}x{ALEXNET_MIN_INPUT} pixels, "
            f"got {tuple(x.shape[-2:])}; raise the crop size"
        )
    x = avgpool(features(x))
    return hidden(torch.flatten(x, 1))


# GoogLeNet (Szegedy et al., "Going Deeper with Convolutions", CVPR 2015) as torchvision 0.29 builds it, which adds
# batch normalisation after every convolution. Output channels of each Inception module's branches, from Table 1
# of the paper: 1x1, 3x3 reduce, 3x3, second reduce, second convolution, pool projection.
GOOGLENET_INCEPTIONS: dict[str, tuple[int, int, int, int, int, int]] = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}
# Channels of the stem convolutions conv1 (7x7, stride 2), conv2 (1x1) and conv3 (3x3).
GOOGLENET_STEM_CHANNELS = (64, 64, 192)
# Each auxiliary classifier pools its input to 4x4, projects it to 128 channels with a 1x1 convolution, then applies
# a 1,024-unit ReLU layer, dropout and its K-way layer.
GOOGLENET_AUX_CHANNELS = 128
GOOGLENET_AUX_GRID = 4
GOOGLENET_AUX_HIDDEN = 1024
# Layers of the forward pass in order. An AUX_TAP entry is where the next auxiliary classifier reads its input.
AUX_TAP = "aux"
GOOGLENET_LAYERS = (
    "conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
    "inception4a", AUX_TAP, "inception4b", "inception4c", "inception4d", AUX_TAP,
    "inception4e", "maxpool4", "inception5a", "inception5b", "avgpool",
)
# The smallest square input: 15 -> 8 (conv1) -> 4 (maxpool1) -> 2 (maxpool2) -> 1 (maxpool3) -> 1 (maxpool4).
# At 14 pixels maxpool3 gets a 1x1 input, smaller than its 3x3 window.
GOOGLENET_MIN_INPUT = 15


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


class ConvBNReLU(nn.Module):
    """Convolution without bias, batch normalisation (eps 0.001, as in torchvision's GoogLeNet) and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    """Inception module: four parallel branches whose outputs are concatenated along the channels.

    The third branch has a 3x3 convolution where Szegedy et al. have a 5x5 one. torchvision keeps that deviation
    for compatibility with its pretrained weights, and it is kept here so that the parameter shapes equal
    torchvision's.
    """

    def __init__(self, in_channels: int, channels: Sequence[int]):
        super().__init__()
        one, reduce_a, three_a, reduce_b, three_b, pool_projection = channels
        self.branch1 = ConvBNReLU(in_channels, one, 1)
        self.branch2 = nn.Sequential(ConvBNReLU(in_channels, reduce_a, 1), ConvBNReLU(reduce_a, three_a, 3, padding=1))
        self.branch3 = nn.Sequential(ConvBNReLU(in_channels, reduce_b, 1), ConvBNReLU(reduce_b, three_b, 3, padding=1))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            ConvBNReLU(in_channels, pool_projection, 1),
        )
        self.out_channels = one + three_a + three_b + pool_projection

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class InceptionAux(nn.Module):
    """Auxiliary classifier. `features(x)` is the input of its K-way layer `fc2`, of size 1024 x width."""

    def __init__(self, in_channels: int, num_classes: int, width: float, dropout: float):
        super().__init__()
        conv_channels = _scaled(GOOGLENET_AUX_CHANNELS, width)
        hidden = _scaled(GOOGLENET_AUX_HIDDEN, width)
        self.conv = ConvBNReLU(in_channels, conv_channels, 1)
        self.fc1 = nn.Linear(conv_channels * GOOGLENET_AUX_GRID * GOOGLENET_AUX_GRID, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return _aux_features(self.conv, self.fc1, self.dropout, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.features(x))


def _aux_features(conv: nn.Module, fc1: nn.Module, dropout: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = conv(F.adaptive_avg_pool2d(x, GOOGLENET_AUX_GRID))
    return dropout(F.relu(fc1(torch.flatten(x, 1)), inplace=True))


class GoogLeNet(nn.Module):
    """torchvision's GoogLeNet (Inception v1 with batch normalisation and two auxiliary classifiers), scalable.

    Module names equal torchvision's, so at `width=1` the state_dict keys and shapes are those of
    `torchvision.models.googlenet(num_classes=num_classes, aux_logits=True, init_weights=True)`. `width` scales the
    channels of every convolution and the auxiliary classifiers' hidden layer. The penultimate features are the
    pooled output of inception5b after dropout, 1024 x width values (each branch is rounded separately), so
    `embedding_dim` cannot be chosen and is only checked when given. The defaults `dropout=0.2` and
    `aux_dropout=0.7` are torchvision's. `aux_logits=False` leaves out the auxiliary classifiers, which only
    training uses.

    Initialisation follows `init_relu_network`: He normal weights for every convolution and the auxiliary hidden
    layers, small normal weights for the three K-way layers. Batch normalisation after every convolution removes
    the scale of the convolution weights from the forward pass, so their init matters less than in AlexNet.
    torchvision instead draws all weights from a normal distribution with std 0.01 truncated at +-2.
    """

    def __init__(
        self,
        num_classes: int,
        width: float = 1.0,
        embedding_dim: int | None = None,
        dropout: float = 0.2,
        aux_dropout: float = 0.7,
        aux_logits: bool = True,
    ):
        super().__init__()
        if num_classes < 1 or width <= 0:
            raise ValueError(f"invalid GoogLeNet size: num_classes={num_classes}, width={width}; both must be positive")
        stem1, stem2, stem3 = (_scaled(channels, width) for channels in GOOGLENET_STEM_CHANNELS)
        self.conv1 = ConvBNReLU(3, stem1, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = ConvBNReLU(stem1, stem2, 1)
        self.conv3 = ConvBNReLU(stem2, stem3, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        channels = stem3
        channels_after: dict[str, int] = {}
        for name, branches in GOOGLENET_INCEPTIONS.items():
            module = Inception(channels, [_scaled(branch, width) for branch in branches])
            setattr(self, name, module)
            channels = channels_after[name] = module.out_channels
        if embedding_dim is not None and embedding_dim != channels:
            raise ValueError(
                f"GoogLeNet at width {width} has {channels}-dimensional penultimate features (1024 x width), "
                f"not embedding_dim={embedding_dim}; leave embedding_dim unset"
            )

        self.aux_logits = aux_logits
        self.aux1: InceptionAux | None = None
        self.aux2: InceptionAux | None = None
        if aux_logits:
            self.aux1 = InceptionAux(channels_after["inception4a"], num_classes, width, aux_dropout)
            self.aux2 = InceptionAux(channels_after["inception4d"], num_classes, width, aux_dropout)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(channels, num_classes)
        init_relu_network(self, [self.fc, *self.aux_heads])

    @property
    def head(self) -> nn.Linear:
        return self.fc

    @property
    def aux_classifiers(self) -> list[InceptionAux]:
        return [self.aux1, self.aux2] if self.aux_logits else []

    @property
    def aux_heads(self) -> list[nn.Linear]:
        return [aux.fc2 for aux in self.aux_classifiers]

    def trunk(self) -> nn.Module:
        return _GoogLeNetTrunk(self)

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (N, 3, H, W) to penultimate features (N, E), the input of the head."""
        return _googlenet_forward(self, x, []).features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits of the main classifier only; the auxiliary ones are computed by the trunk in training."""
        return self.head(self.penultimate(x))


class _AuxFeatures(nn.Module):
    """An auxiliary classifier without its K-way layer, sharing the classifier's parameter tensors."""

    def __init__(self, aux: InceptionAux):
        super().__init__()
        self.conv = aux.conv
        self.fc1 = aux.fc1
        self.dropout = aux.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _aux_features(self.conv, self.fc1, self.dropout, x)


class _GoogLeNetTrunk(nn.Module):
    """Every layer of a GoogLeNet except its K-way layers, sharing the model's parameter tensors (no copies)."""

    def __init__(self, model: GoogLeNet):
        super().__init__()
        for name in GOOGLENET_LAYERS:
            if name != AUX_TAP:
                setattr(self, name, getattr(model, name))
        self.dropout = model.dropout
        self.aux_features = nn.ModuleList(_AuxFeatures(aux) for aux in model.aux_classifiers)

    def forward(self, x: torch.Tensor) -> TrunkOutput:
        # The layers are the model's, so model.train() and model.eval() set their mode but not this wrapper's own
        # `training` flag. The mode is therefore read from a shared layer.
        extractors = list(self.aux_features) if self.conv1.training else []
        return _googlenet_forward(self, x, extractors)


def _googlenet_forward(layers: nn.Module, x: torch.Tensor, aux_extractors: Sequence[nn.Module]) -> TrunkOutput:
    """Run the GOOGLENET_LAYERS of `layers`, and at each AUX_TAP the next of `aux_extractors` if there is one."""
    if min(x.shape[-2:]) < GOOGLENET_MIN_INPUT:
        raise ValueError(
            f"GoogLeNet needs inputs of at least {GOOGLENET_MIN_INPUT}x{GOOGLENET_MIN_INPUT} pixels, "
            f"got {tuple(x.shape[-2:])}; raise the crop size"
        )
    remaining = list(aux_extractors)
    aux_features = []
    for name in GOOGLENET_LAYERS:
        if name != AUX_TAP:
            x = getattr(layers, name)(x)
        elif remaining:
            aux_features.append(remaining.pop(0)(x))
    return TrunkOutput(layers.dropout(torch.flatten(x, 1)), aux_features)


def without_aux_classifiers(model: nn.Module) -> nn.Module:
    """Return the model for inference: `model` itself without auxiliary classifiers, else a copy without them.

    The copy's `ModelSpec` has `aux_logits=False`, so a saved copy contains no auxiliary weights (two thirds of the
    K-way parameters) and `load_model` rebuilds it as it was saved. Its other tensors equal the model's.
    """
    if not model.aux_heads:
        return model
    spec = model.spec
    inference = build_model(spec.arch, spec.num_classes, **{**spec.options, "aux_logits": False})
    kept = inference.state_dict().keys()
    inference.load_state_dict({name: tensor for name, tensor in model.state_dict().items() if name in kept})
    return inference.to(next(model.parameters()).device).train(model.training)


# Registry of architectures by name. A builder takes num_classes and keyword options and returns a model with
# `head`, `aux_heads`, `trunk()` and `penultimate()` as described in the module docstring.
MODEL_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "alexnet": AlexNet,
    "googlenet": GoogLeNet,
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
