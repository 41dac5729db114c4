"""Word-prediction evaluation: precision@k of a trained model on held-out photos (Joulin et al., ECCV 2016).

precision@k of a photo is the number of its target words among the k highest-scoring dictionary words, divided by
k. It is averaged over the photos of a split that have at least one target. Photos without a target in the
dictionary have no defined precision, so they are skipped and their number is reported.

Command line:

    python -m weaksup.evaluate --model models/alexnet-k1000.pt --corpus-dir data/corpus \\
        --targets data/targets/k1000.npz --split test --output results/word-prediction/alexnet-k1000.json
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Sequence

import numpy as np
import torch
from tqdm import tqdm

from weaksup.atomic import write_json
from weaksup.data import make_photo_loader, open_image_store
from weaksup.logs import setup_logging
from weaksup.losses import target_mask
from weaksup.models import load_model
from weaksup.targets import SPLIT_NAMES, TRAIN, Targets, load_targets
from weaksup.train import resolve_device

log = logging.getLogger(__name__)

DEFAULT_KS = (1, 5, 10)


class PrecisionAccumulator:
    """Sums of precision@k over batches of photos, so that a test set of any size is scored batch by batch."""

    def __init__(self, ks: Sequence[int] = DEFAULT_KS):
        if not ks or min(ks) < 1:
            raise ValueError(f"ks must be positive integers, got {list(ks)}")
        self.ks = sorted(set(int(k) for k in ks))
        self.precision_sums = {k: 0.0 for k in self.ks}
        self.photos_evaluated = 0
        self.photos_skipped = 0

    def add(self, scores: torch.Tensor, rows: Sequence[Sequence[int] | np.ndarray]) -> None:
        """Add a batch of scores (N, K) and the N photos' target word ids. Photos without targets are only counted."""
        if scores.shape[0] != len(rows):
            raise ValueError(
                f"scores have {scores.shape[0]} rows but there are {len(rows)} target rows; pass one per photo"
            )
        if self.ks[-1] > scores.shape[1]:
            raise ValueError(f"precision@{self.ks[-1]} needs at least {self.ks[-1]} classes, got {scores.shape[1]}")
        keep = [i for i, row in enumerate(rows) if len(row) > 0]
        self.photos_skipped += len(rows) - len(keep)
        if not keep:
            return

        top = scores[keep].topk(self.ks[-1], dim=1).indices
        mask = target_mask([rows[i] for i in keep], scores.shape[1], scores.device)
        # hits[:, j] is the number of targets among the j + 1 highest-scoring words.
        hits = mask.gather(1, top).cumsum(dim=1).double()
        for k in self.ks:
            self.precision_sums[k] += float((hits[:, k - 1] / k).sum())
        self.photos_evaluated += len(keep)

    def result(self) -> dict[str, Any]:
        """Return precision@k per k (None when no photo had a target) and the photo counts."""
        result: dict[str, Any] = {
            f"precision@{k}": self.precision_sums[k] / self.photos_evaluated if self.photos_evaluated else None
            for k in self.ks
        }
        result["photos_evaluated"] = self.photos_evaluated
        result["photos_skipped_no_targets"] = self.photos_skipped
        return result


def precision_at_k(
    scores: torch.Tensor, targets: Sequence[Sequence[int] | np.ndarray], ks: Sequence[int] = DEFAULT_KS
) -> dict[str, Any]:
    """Return precision@k of scores (N, K) against each photo's target word ids, as `PrecisionAccumulator.result`."""
    accumulator = PrecisionAccumulator(ks)
    accumulator.add(scores, targets)
    return accumulator.result()


def split_number(split: str) -> int:
    if split not in SPLIT_NAMES:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_NAMES)}")
    return SPLIT_NAMES.index(split)


def frequency_baseline(targets: Targets, ks: Sequence[int] = DEFAULT_KS, split: str = "test") -> dict[str, Any]:
    """Return precision@k on `split` of always predicting the k words most frequent in the training photos.

    Ties in training frequency are broken by word id. Dictionary ids are already in frequency order, but the
    ranking is recomputed from the training counts so that it also holds for a dictionary built otherwise.
    """
    ks = sorted(set(int(k) for k in ks))
    if ks[-1] > targets.num_classes:
        raise ValueError(f"precision@{ks[-1]} needs at least {ks[-1]} classes, got {targets.num_classes}")
    photo_of_entry = np.repeat(np.arange(targets.num_photos), targets.target_counts())
    entry_split = targets.split[photo_of_entry]
    train_counts = np.bincount(targets.words[entry_split == TRAIN], minlength=targets.num_classes)
    ranking = np.argsort(-train_counts, kind="stable")
    rank_of_word = np.empty(targets.num_classes, dtype=np.int64)
    rank_of_word[ranking] = np.arange(targets.num_classes)

    photos = targets.photos_in_split(split_number(split))
    evaluated = int(np.count_nonzero(targets.target_counts()[photos]))
    ranks = rank_of_word[targets.words[entry_split == split_number(split)]]
    # Every photo predicts the same k words, so the mean of hits/k over photos is total hits / (k * photos).
    result: dict[str, Any] = {
        f"precision@{k}": float(np.count_nonzero(ranks < k)) / (k * evaluated) if evaluated else None for k in ks
    }
    result["photos_evaluated"] = evaluated
    result["photos_skipped_no_targets"] = len(photos) - evaluated
    return result


@torch.no_grad()
def evaluate_word_prediction(
    model_path: str | os.PathLike,
    corpus_dir: str | os.PathLike,
    targets_path: str | os.PathLike,
    split: str = "test",
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int = 256,
    workers: int = 4,
    device: str = "auto",
    output: str | os.PathLike | None = None,
    include_frequency_baseline: bool = False,
) -> dict[str, Any]:
    """Score every photo of `split` with the model and return precision@k and the photo counts.

    With `output`, the result is also written there as JSON (atomically). With `include_frequency_baseline`, the
    result has a `frequency_baseline` entry from `frequency_baseline` on the same split.
    """
    torch_device = resolve_device(device, 0)
    model, meta = load_model(model_path, map_location=torch_device)
    targets = load_targets(targets_path)
    if model.spec.num_classes != targets.num_classes:
        raise ValueError(f"model {model_path} predicts {model.spec.num_classes} words but {targets_path} has "
                         f"{targets.num_classes}; use the targets of the model's dictionary")
    if "crop_size" not in meta:
        raise ValueError(f"model file {model_path} has no crop_size in its metadata; save it with weaksup.train")

    photos = targets.photos_in_split(split_number(split))
    with_targets = photos[targets.target_counts()[photos] > 0]
    accumulator = PrecisionAccumulator(ks)
    accumulator.photos_skipped = len(photos) - len(with_targets)
    log.info("%s split: %d photos, %d skipped because they have no target in the dictionary",
             split, len(photos), accumulator.photos_skipped)

    store = open_image_store(corpus_dir, expected_photos=targets.num_photos)
    loader = make_photo_loader(store, with_targets, meta["crop_size"], batch_size, workers, torch_device.type == "cuda")
    model.to(torch_device).eval()
    for images, positions in tqdm(loader, desc=f"precision@k on {split}", mininterval=30):
        scores = model(images.to(torch_device, non_blocking=True))
        accumulator.add(scores, [targets.targets_of(photo) for photo in with_targets[positions.numpy()]])

    result = {"model": str(model_path), "targets": str(targets_path), "split": split,
              "num_classes": targets.num_classes, **accumulator.result()}
    if include_frequency_baseline:
        result["frequency_baseline"] = frequency_baseline(targets, ks, split)
    log.info("word prediction: %s", result)
    if output is not None:
        write_json(output, result)
        log.info("wrote %s", output)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m weaksup.evaluate", description="Word-prediction precision@k.")
    parser.add_argument("--model", required=True, help="model file written by weaksup.train")
    parser.add_argument("--corpus-dir", required=True, help="corpus directory with shard-*.tar files")
    parser.add_argument("--targets", required=True, help="targets file (.npz) of the model's dictionary")
    parser.add_argument("--split", default="test", choices=SPLIT_NAMES, help="photos to evaluate")
    parser.add_argument("--ks", type=int, nargs="+", default=list(DEFAULT_KS), help="values of k for precision@k")
    parser.add_argument("--batch-size", type=int, default=256, help="photos per forward pass")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader worker processes")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="auto: cuda when available")
    parser.add_argument("--output", required=True, help="JSON file for the results")
    parser.add_argument("--no-frequency-baseline", action="store_true",
                        help="leave out the baseline that always predicts the most frequent training words")
    parser.add_argument("--log-file", default=None, help="log file (appended)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_file)
    evaluate_word_prediction(
        args.model, args.corpus_dir, args.targets, split=args.split, ks=args.ks, batch_size=args.batch_size,
        workers=args.workers, device=args.device, output=args.output,
        include_frequency_baseline=not args.no_frequency_baseline,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
