"""Compare the speed of weaksup's image input with torchvision's usual ImageFolder pipeline, per core.

The script generates `--photos` random photos (smooth colour fields, shapes and pixel noise) and stores them in
a temporary folder twice:

- as 500x375 JPEG files (quality 90) in ImageFolder's layout, about the size of a Flickr download;
- rescaled to 256x256 with `weaksup.images.encode_jpeg` in one corpus shard written by `ShardWriter`.

It then turns every photo into a (3, 224, 224) float tensor in one process with one torch thread, `--repeats`
times, alternating between the two inputs. weaksup reads bytes from `ImageStore` and calls `load_standardized`
(decode, central crop, per-image standardisation). torchvision reads the JPEG files through `ImageFolder` with
Resize(256), CenterCrop(224) and ToTensor. Normalize is left out, so torchvision's tensors are scaled to [0, 1]
but not standardised. The script reports the median photos per second of each input and their ratio.

    .venv/bin/python benchmarks/image_input.py --photos 1000 --repeats 5 --out benchmarks/results/image_input.json
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image, ImageDraw
from torchvision import datasets, transforms
from tqdm import tqdm

from machine import cpu_name
from weaksup.atomic import write_json
from weaksup.corpus.shards import ImageStore, PhotoText, ShardWriter, shard_stem
from weaksup.images import encode_jpeg, load_standardized

PHOTO_SIZE = (500, 375)  # width x height of the JPEG files that ImageFolder reads
STORED_SIZE = 256  # side of the corpus photos, as the corpus sources store them
CROP_SIZE = 224
JPEG_QUALITY = 90  # encode_jpeg's default, used for both inputs
SHAPES_PER_PHOTO = 12



def random_photo(rng: np.random.Generator) -> Image.Image:
    """Return a PHOTO_SIZE RGB image: an upsampled coarse colour field, random shapes and pixel noise.

    Pure noise would compress far worse than a photo, so most of the content is smooth.
    """
    width, height = PHOTO_SIZE
    coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize(PHOTO_SIZE, Image.Resampling.BICUBIC)

    draw = ImageDraw.Draw(image)
    for _ in range(SHAPES_PER_PHOTO):
        x0, x1 = sorted(rng.integers(0, width, size=2))
        y0, y1 = sorted(rng.integers(0, height, size=2))
        colour = tuple(int(value) for value in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)

    pixels = np.asarray(image, dtype=np.int16) + rng.normal(0, 8, size=(height, width, 3)).astype(np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_inputs(root: Path, photos: int, seed: int) -> tuple[Path, Path]:
    """Write the photos as an ImageFolder tree and as one corpus shard; return (folder, shard tar path)."""
    folder = root / "folder" / "photos"  # ImageFolder needs one sub-folder per class
    folder.mkdir(parents=True)
    shard = root / "shards" / f"{shard_stem(0)}.tar"
    shard.parent.mkdir()
    rng = np.random.default_rng(seed)
    with ShardWriter(shard) as writer:
        for index in tqdm(range(photos), desc="generating photos", unit="photo"):
            image = random_photo(rng)
            image.save(folder / f"{index:06d}.jpg", format="JPEG", quality=JPEG_QUALITY)
            writer.write(PhotoText(f"p{index:06d}"), encode_jpeg(image, STORED_SIZE, JPEG_QUALITY))
    return folder.parent, shard


def time_alternating(readers: dict[str, Callable[[], int]], repeats: int) -> dict[str, float]:
    """Return the median seconds of each reader over `repeats` runs; runs alternate between the readers."""
    seconds: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(repeats):
        for name, read_all in readers.items():
            start = time.perf_counter()
            read_all()
            seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in seconds.items()}


def _check_shape(tensor: torch.Tensor, reader: str) -> None:
    if tensor.shape != (3, CROP_SIZE, CROP_SIZE):
        raise RuntimeError(f"{reader} returned a tensor of shape {tuple(tensor.shape)}, expected (3, 224, 224)")


def make_readers(folder: Path, shard: Path) -> dict[str, Callable[[], int]]:
    """Return one function per input that turns every photo into a tensor and returns the photo count."""
    store = ImageStore([shard])
    pipeline = transforms.Compose([transforms.Resize(STORED_SIZE), transforms.CenterCrop(CROP_SIZE),
                                   transforms.ToTensor()])
    image_folder = datasets.ImageFolder(str(folder), transform=pipeline)
    if len(image_folder) != len(store):
        raise RuntimeError(f"ImageFolder found {len(image_folder)} photos in {folder}, the shard has {len(store)}")

    def read_store() -> int:
        for photo in range(len(store)):
            tensor = load_standardized(store.read(photo), CROP_SIZE)
        _check_shape(tensor, "weaksup")
        return len(store)

    def read_image_folder() -> int:
        for photo in range(len(image_folder)):
            tensor, _ = image_folder[photo]
        _check_shape(tensor, "ImageFolder")
        return len(image_folder)

    return {"weaksup": read_store, "imagefolder": read_image_folder}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1000, help="number of generated photos")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per input; the median is reported")
    parser.add_argument("--seed", type=int, default=0, help="seed of the photo generator")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/image_input.json"),
                        help="JSON file for the results")
    args = parser.parse_args()
    if args.photos < 1 or args.repeats < 1:
        raise SystemExit(f"--photos and --repeats must be positive, got {args.photos} and {args.repeats}")
    # One thread, so the rates are per core. Both pipelines decode with Pillow, which is single-threaded anyway.
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory(prefix="weaksup-image-input-") as temporary:
        folder, shard = write_inputs(Path(temporary), args.photos, args.seed)
        file_bytes = sum(path.stat().st_size for path in folder.rglob("*.jpg"))
        stored_bytes = int(np.load(shard.with_suffix(".index.npy"))[:, 1].sum())
        seconds = time_alternating(make_readers(folder, shard), args.repeats)

    results = {
        "photos": args.photos,
        "repeats": args.repeats,
        "seed": args.seed,
        "mean_file_kib": round(file_bytes / args.photos / 1024, 1),
        "mean_stored_kib": round(stored_bytes / args.photos / 1024, 1),
        "weaksup_photos_per_second_per_core": round(args.photos / seconds["weaksup"], 1),
        "imagefolder_photos_per_second_per_core": round(args.photos / seconds["imagefolder"], 1),
        "speedup": round(seconds["imagefolder"] / seconds["weaksup"], 2),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pillow": PIL.__version__,
        "cpu": cpu_name(),
        "platform": platform.platform(),
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
