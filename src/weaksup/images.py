"""Image decoding and the per-image standardisation of Joulin et al. (ECCV 2016).

The paper rescales every photo to 256x256 (aspect ratio not kept), takes the central 224x224 crop, subtracts
the image's own mean pixel value and divides by the image's own pixel standard deviation. Corpus shards already
store photos at the rescaled size, so training only decodes, crops and standardises.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

# A constant image has standard deviation 0; this floor keeps it finite (it maps to all zeros).
STD_FLOOR = 1e-6


def decode_rgb(data: bytes) -> Image.Image:
    """Decode image bytes to an RGB PIL image.

    Raises `PIL.UnidentifiedImageError` for data that is not an image (an empty file too), `OSError` for a
    truncated or corrupt one (some format plugins raise `SyntaxError` or `ValueError` instead), and
    `PIL.Image.DecompressionBombError` for one with more pixels than `PIL.Image.MAX_IMAGE_PIXELS`.
    """
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        # Pillow's message names twice the limit, the threshold at which it raises.
        raise Image.DecompressionBombError(
            f"{error} PIL.Image.MAX_IMAGE_PIXELS is {Image.MAX_IMAGE_PIXELS}. Raise it to accept larger images"
        ) from None
    _check_pixel_count(image)
    image.load()
    if image.mode != "RGB":
        image = _to_rgb(image)
    return image


def _check_pixel_count(image: Image.Image) -> None:
    """Raise DecompressionBombError before decoding an image with more pixels than `PIL.Image.MAX_IMAGE_PIXELS`.

    Pillow (13.0) raises this error itself only above twice the limit and merely warns between one and two times
    it, which would let such an image through.
    """
    limit = Image.MAX_IMAGE_PIXELS
    width, height = image.size
    if limit and width * height > limit:
        raise Image.DecompressionBombError(
            f"{width}x{height} image has {width * height} pixels, more than PIL.Image.MAX_IMAGE_PIXELS = {limit} "
            "(a possible decompression bomb). Raise that limit to accept larger images"
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels become white, the usual background of photos with alpha.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def encode_jpeg(image: Image.Image, size: int, quality: int = 90) -> bytes:
    """Rescale to size x size and encode as JPEG: the stored form of every corpus photo."""
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def center_crop(array: np.ndarray, crop: int) -> np.ndarray:
    """Return the central crop x crop window of an (H, W, C) array."""
    height, width = array.shape[:2]
    if crop > height or crop > width:
        raise ValueError(f"crop size {crop} is larger than the stored image ({width}x{height})")
    top = (height - crop) // 2
    left = (width - crop) // 2
    return array[top : top + crop, left : left + crop]


def standardize(pixels: torch.Tensor) -> torch.Tensor:
    """Subtract the image's mean pixel value and divide by its pixel standard deviation (scalars over all channels)."""
    pixels = pixels.float()
    mean = pixels.mean()
    std = pixels.std().clamp_min(STD_FLOOR)
    return (pixels - mean) / std


def load_standardized(data: bytes, crop: int) -> torch.Tensor:
    """Decode stored JPEG bytes into a standardised (3, crop, crop) float tensor."""
    array = np.asarray(decode_rgb(data), dtype=np.uint8)
    # A copy: PIL's array is read-only, and torch warns on (and must not write into) read-only memory.
    array = np.array(center_crop(array, crop), copy=True, order="C")
    return standardize(torch.from_numpy(array).permute(2, 0, 1))
