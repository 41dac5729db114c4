"""End-to-end tests of the training loop on a tiny corpus: outputs, resume, NaN guard."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from weaksup.checkpoint import load_checkpoint
from weaksup.corpus.shards import PhotoText, ShardWriter, shard_stem
from weaksup.images import encode_jpeg
from weaksup.models import load_model
from weaksup.targets import TEST, TRAIN, VALIDATION, Targets, word_photo_index
from weaksup.text.dictionary import write_counts
from weaksup.train import main

NUM_PHOTOS = 120
NUM_CLASSES = 10
IMAGE_SIZE = 64


WORDS = [f"word{index}" for index in range(NUM_CLASSES)]


def write_tiny_corpus(root: Path) -> tuple[Path, Path]:
    """Write 2 shards of random coloured 64x64 photos, a dictionary and a targets file.

    Return (corpus_dir, targets_path); the dictionary is `dictionary.tsv` beside the targets.
    """
    rng = np.random.default_rng(0)
    corpus_dir = root / "corpus"
    per_shard = NUM_PHOTOS // 2
    for shard in range(2):
        with ShardWriter(corpus_dir / f"{shard_stem(shard)}.tar") as writer:
            for photo in range(shard * per_shard, (shard + 1) * per_shard):
                colour = rng.integers(0, 256, size=3)
                pixels = np.clip(colour + rng.normal(0, 25, (IMAGE_SIZE, IMAGE_SIZE, 3)), 0, 255).astype(np.uint8)
                writer.write(PhotoText(f"p{photo}"), encode_jpeg(Image.fromarray(pixels), IMAGE_SIZE))

    rows = [np.sort(rng.choice(NUM_CLASSES, size=rng.integers(0, 4), replace=False)) for _ in range(NUM_PHOTOS)]
    split = np.full(NUM_PHOTOS, TRAIN, dtype=np.int8)
    split[80:100] = VALIDATION
    split[100:] = TEST
    indptr = np.concatenate([[0], np.cumsum([len(row) for row in rows])]).astype(np.int64)
    words = np.concatenate(rows).astype(np.int64)
    word_photos_indptr, word_photos = word_photo_index(indptr, words, split, NUM_CLASSES)
    targets_path = root / "targets.npz"
    Targets(indptr, words, split, word_photos_indptr, word_photos, NUM_CLASSES).save(targets_path)
    write_counts({word: 100 - index for index, word in enumerate(WORDS)}, root / "dictionary.tsv")
    return corpus_dir, targets_path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    return write_tiny_corpus(tmp_path_factory.mktemp("tiny"))


def train_args(corpus: tuple[Path, Path], run_dir: Path, *extra: str) -> list[str]:
    corpus_dir, targets_path = corpus
    return [
        "--corpus-dir", str(corpus_dir), "--targets", str(targets_path),
        "--dictionary", str(targets_path.parent / "dictionary.tsv"),
        "--run-dir", str(run_dir), "--output", str(run_dir / "model.pt"),
        "--width", "0.1", "--embedding-dim", "32", "--crop-size", "64",
        "--batch-size", "16", "--epoch-size", "64", "--max-epochs", "2", "--min-epochs-per-rate", "1",
        "--validation-photos", "12", "--checkpoint-every", "2", "--log-every", "1",
        "--workers", "0", "--device", "cpu", "--deterministic", "--seed", "5",
        *extra,
    ]


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def uninterrupted(corpus, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    assert main(train_args(corpus, run_dir)) == 0
    return run_dir


def test_run_writes_outputs(uninterrupted):
    args = json.loads((uninterrupted / "args.json").read_text())
    metrics = read_metrics(uninterrupted)
    model, meta = load_model(uninterrupted / "model.pt")
    assert args["batch_size"] == 16
    assert [record["epoch"] for record in metrics] == [1, 2]
    assert [record["step"] for record in metrics] == [4, 8]
    for key in ("lr", "train_loss", "validation_error", "images_per_second", "seconds"):
        assert math.isfinite(metrics[0][key]), key
    assert meta["crop_size"] == 64
    assert meta["words"] == WORDS
    assert model.spec.num_classes == NUM_CLASSES
    assert (uninterrupted / "train.log").stat().st_size > 0


def test_resume_is_bit_identical(corpus, uninterrupted, tmp_path):
    run_dir = tmp_path / "resumed"
    # Pause in the middle of the first epoch, after the checkpoint of step 2.
    assert main(train_args(corpus, run_dir, "--max-steps", "3")) == 0
    assert not (run_dir / "model.pt").exists()
    assert load_checkpoint(run_dir)["step"] == 3
    assert main(train_args(corpus, run_dir)) == 0

    expected, _ = load_model(uninterrupted / "model.pt")
    resumed, _ = load_model(run_dir / "model.pt")
    for name, tensor in expected.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], tensor), name
    expected_metrics, resumed_metrics = read_metrics(uninterrupted), read_metrics(run_dir)
    for key in ("train_loss", "validation_error", "lr", "next_lr", "step"):
        assert [r[key] for r in resumed_metrics] == [r[key] for r in expected_metrics], key


def test_resume_rejects_other_model(corpus, tmp_path):
    run_dir = tmp_path / "run"
    assert main(train_args(corpus, run_dir, "--max-steps", "1")) == 0
    with pytest.raises(ValueError, match="checkpoint was made with width=0.1"):
        main(train_args(corpus, run_dir, "--width", "0.2"))


def test_dictionary_must_match_targets(corpus, tmp_path):
    dictionary = tmp_path / "short.tsv"
    write_counts({"only": 1, "two": 1}, dictionary)
    with pytest.raises(ValueError, match="has 2 words but the targets have 10"):
        main(train_args(corpus, tmp_path / "run", "--dictionary", str(dictionary)))


def test_num_classes_must_match_targets(corpus, tmp_path):
    with pytest.raises(ValueError, match="--num-classes 11 differs from the 10 words"):
        main(train_args(corpus, tmp_path / "run", "--num-classes", "11"))


def test_nan_loss_stops_and_keeps_checkpoint(corpus, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(FloatingPointError, match="training loss is"):
        main(train_args(corpus, run_dir, "--lr", "1e30", "--checkpoint-every", "1"))
    checkpoint = load_checkpoint(run_dir)
    assert checkpoint is not None
    for name, tensor in checkpoint["model"].items():
        assert torch.isfinite(tensor).all(), name
    assert not (run_dir / "model.pt").exists()


RANK_CHECK_SCRIPT = '''
import sys
import torch
import weaksup.train as training

original_train = training.train


def train_and_dump(state, run):
    finished = original_train(state, run)
    tensors = [*state.model.state_dict().values(), state.head.momentum_weight, state.head.momentum_bias]
    torch.save([t.detach().cpu() for t in tensors], f"{run.run_dir}/rank{run.env.rank}.pt")
    return finished


training.train = train_and_dump
sys.exit(training.main())
'''


@pytest.mark.slow
def test_two_rank_run_keeps_ranks_identical(corpus, tmp_path):
    """torchrun with 2 CPU ranks (gloo on localhost): DDP trunk and all-reduced head stay the same on both."""
    script = tmp_path / "rank_check.py"
    script.write_text(RANK_CHECK_SCRIPT)
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
               *train_args(corpus, run_dir)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]

    rank0 = torch.load(run_dir / "rank0.pt")
    rank1 = torch.load(run_dir / "rank1.pt")
    assert len(rank0) == len(rank1)
    for index, (first, second) in enumerate(zip(rank0, rank1)):
        assert torch.equal(first, second), index
    assert (run_dir / "model.pt").exists()
    assert [record["epoch"] for record in read_metrics(run_dir)] == [1, 2]


def test_rejects_zero_checkpoint_interval(corpus, tmp_path):
    with pytest.raises(ValueError, match="--checkpoint-every must be a positive integer, got 0"):
        main(train_args(corpus, tmp_path / "run", "--checkpoint-every", "0"))


def test_bf16_channels_last_run(corpus, tmp_path):
    run_dir = tmp_path / "bf16"
    assert main(train_args(corpus, run_dir, "--precision", "bf16", "--channels-last")) == 0
    metrics = read_metrics(run_dir)
    args = json.loads((run_dir / "args.json").read_text())

    assert args["precision"] == "bf16"
    assert args["channels_last"] is True
    assert all(math.isfinite(record["train_loss"]) for record in metrics)
    assert (run_dir / "model.pt").exists()


def test_train_argv_passes_gpu_options():
    from weaksup.launch import train_argv

    training = {"precision": "bf16", "channels_last": True, "prefetch_factor": 4, "deterministic": False}
    argv = train_argv(training, {}, arch="alexnet", loss="multiclass", corpus_dir="c", targets="t.npz",
                      dictionary=None, train_subset=None, run_dir="r", output="m.pt", workers=2, device="cuda")

    assert argv[argv.index("--precision") + 1] == "bf16"
    assert argv[argv.index("--prefetch-factor") + 1] == "4"
    assert "--channels-last" in argv
    assert "--deterministic" not in argv
