"""Import torchvision's ImageNet-trained weights as model files of this package (the supervised baseline).

The architectures of `weaksup.models` have torchvision's module names at width 1, so torchvision's state_dicts
load into them unchanged (strictly: a renamed or missing key is an error, never a partial load).
"""

from __future__ import annotations

import logging
import os

import torch

from weaksup.models import build_model, save_model

log = logging.getLogger(__name__)

IMAGENET_CLASSES = 1000
# Options that make each architecture equal torchvision's own.
TORCHVISION_OPTIONS = {
    "alexnet": {"width": 1.0, "embedding_dim": 4096, "dropout": 0.5},
    "googlenet": {"width": 1.0},
}


def import_torchvision_model(arch: str, weights_path: str | os.PathLike, out_path: str | os.PathLike,
                             crop_size: int) -> None:
    """Load a torchvision ImageNet checkpoint of `arch` and write it as a model file for feature extraction.

    NOTE: the model is fed this workflow's per-image standardisation, as Joulin et al. (ECCV 2016) do for every
    network in their transfer experiments, not torchvision's per-channel ImageNet normalisation.
    """
    if arch not in TORCHVISION_OPTIONS:
        raise ValueError(f"no torchvision import for architecture {arch!r}; known: {', '.join(TORCHVISION_OPTIONS)}")
    model = build_model(arch, IMAGENET_CLASSES, **TORCHVISION_OPTIONS[arch])
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{weights_path} does not match torchvision's {arch} at width 1: {error}") from None
    save_model(out_path, model, {"crop_size": crop_size, "source": f"torchvision ImageNet weights {weights_path}"})
    log.info("imported %s ImageNet weights from %s into %s", arch, weights_path, out_path)
