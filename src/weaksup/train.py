"""Train a word-prediction network on corpus photos and their targets (Joulin et al., ECCV 2016).

One process (CPU or one GPU):

    python -m weaksup.train --corpus-dir data/corpus --targets data/targets/k1000.npz \\
        --run-dir runs/alexnet-k1000 --output models/alexnet-k1000.pt

Several GPUs of one node, with DistributedDataParallel and the same arguments (--batch-size is the global batch):

    torchrun --standalone --nproc_per_node=4 -m weaksup.train --corpus-dir data/corpus \\
        --targets data/targets/k1000.npz --run-dir runs/alexnet-k1000 --output models/alexnet-k1000.pt

The defaults follow the paper: class-uniform sampling, and the multiclass logistic loss with only the rows of the
words in the batch computed and updated. `--loss one_vs_all` selects the class-balanced one-vs-all logistic loss
instead (see `weaksup.losses`). SGD runs with batch 128 from learning rate 0.1. After every epoch of
`--epoch-size` images the validation error is computed, and the rate halves when it rose (see `weaksup.schedule`).

`--arch googlenet` also trains GoogLeNet's two auxiliary classifiers. Each adds its loss, the same loss as the main
head's on its own K-way layer, with weight `--aux-weight` (0.3, as in Szegedy et al. 2015). Their K-way layers are
updated sparsely like the main head. The final model file leaves them out, because only training uses them.

Validation error is the multiclass logistic loss with the full softmax over the dictionary, averaged over each
validation photo's target words, then over photos. Photos without targets are skipped and counted. The paper does
not define its "prediction error", so this definition is our choice. It uses every target of a photo rather than
one sampled word, so it does not depend on a sampling seed. One-vs-all runs use the same error. It depends only on
the logits, whereas their training loss also depends on the class weights, and it makes the validation errors of
the two losses comparable.

A run resumes automatically from `<run-dir>/checkpoint.pt`. The batch of step s and the dropout masks of step s
are functions of (seed, s, rank), so on CPU with --deterministic a resumed run gives bit-identical weights to an
uninterrupted one. Rank 0 writes the checkpoint, `metrics.jsonl` (one JSON line per epoch), `args.json` and the
final model.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import math
import os
import subprocess
import sys
import time
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from weaksup.atomic import atomic_open, write_json
from weaksup.checkpoint import load_checkpoint, save_checkpoint
from weaksup.corpus.shards import ImageStore
from weaksup.data import make_photo_loader, make_train_loader, open_image_store
from weaksup.logs import setup_logging
from weaksup.losses import (
    LOSSES,
    ClassWeights,
    SparseHead,
    batch_classes,
    make_sparse_head,
    multilabel_softmax_error,
    one_vs_all_weights,
    target_mask,
)
from weaksup.models import MODEL_BUILDERS, build_model, save_model, without_aux_classifiers
from weaksup.sampling import ClassUniformSampler
from weaksup.schedule import HalvingSchedule
from weaksup.targets import TRAIN, VALIDATION, Targets, load_targets
from weaksup.text.dictionary import load_dictionary

log = logging.getLogger(__name__)

METRICS_NAME = "metrics.jsonl"
# Builder options of the model that the command line sets.
MODEL_OPTIONS = ("width", "embedding_dim", "dropout")
PRECISIONS = ("fp32", "bf16")
# Options whose command-line default is None, which stands for the default of the architecture's builder.
ARCH_DEFAULT_OPTIONS = ("embedding_dim", "dropout")
# Arguments that a resumed run must keep: they fix the model's shape or the loss being minimised.
MODEL_ARGS = ("arch", "num_classes", *MODEL_OPTIONS, "loss")
# Arguments whose change keeps a checkpoint loadable but makes the resumed run differ from an uninterrupted one.
RECIPE_ARGS = ("batch_size", "epoch_size", "seed", "crop_size", "lr", "momentum", "weight_decay", "train_subset",
               "min_epochs_per_rate", "min_lr", "world_size", "aux_weight", "precision")
# Values that checkpoints written before an option existed were trained with.
VALUES_BEFORE_OPTION = {"loss": "multiclass", "aux_weight": 0.3, "precision": "fp32"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m weaksup.train",
        description="Train a word-prediction network with class-uniform sampling and a loss restricted to the "
                    "words of each batch.",
    )
    paths = parser.add_argument_group("paths")
    paths.add_argument("--corpus-dir", required=True, help="corpus directory with shard-*.tar files")
    paths.add_argument("--targets", required=True, help="targets file (.npz) of one dictionary")
    paths.add_argument("--run-dir", required=True, help="directory for the checkpoint, metrics.jsonl and args.json")
    paths.add_argument("--output", required=True, help="final model file, written when training finishes")
    paths.add_argument("--dictionary", default=None,
                       help="dictionary TSV, whose path and words are stored in the model file")
    paths.add_argument("--train-subset", default=None,
                       help=".npy file of global photo numbers: train only on these training photos")
    paths.add_argument("--log-file", default=None, help="log file (appended); default <run-dir>/train.log")

    model = parser.add_argument_group("model")
    model.add_argument("--arch", default="alexnet", choices=sorted(MODEL_BUILDERS), help="network architecture")
    model.add_argument("--num-classes", type=int, default=None,
                       help="dictionary size K; default and required value: the targets' K")
    model.add_argument("--width", type=float, default=1.0, help="factor on the convolution channels")
    model.add_argument("--embedding-dim", type=int, default=None,
                       help="size E of the penultimate features (AlexNet; default 4096). GoogLeNet's is 1024 x width "
                            "and cannot be set")
    model.add_argument("--dropout", type=float, default=None,
                       help="dropout probability: AlexNet before each hidden layer (default 0.5), GoogLeNet before "
                            "the head (default 0.2)")
    model.add_argument("--crop-size", type=int, default=224, help="side in pixels of the central crop")

    recipe = parser.add_argument_group("optimisation")
    recipe.add_argument("--loss", default="multiclass", choices=LOSSES,
                        help="multiclass (softmax) or class-balanced one-vs-all logistic loss")
    recipe.add_argument("--aux-weight", type=float, default=0.3,
                        help="weight of each auxiliary classifier's loss (GoogLeNet only)")
    recipe.add_argument("--batch-size", type=int, default=128, help="global batch size, split over the ranks")
    recipe.add_argument("--lr", type=float, default=0.1, help="initial learning rate")
    # The paper gives no momentum or weight decay, so these defaults are the usual AlexNet values.
    recipe.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    recipe.add_argument("--weight-decay", type=float, default=5e-4, help="SGD weight decay (L2 factor)")
    recipe.add_argument("--epoch-size", type=int, default=1_000_000, help="images per epoch")
    recipe.add_argument("--min-epochs-per-rate", type=int, default=10, help="epochs before a rate may be halved")
    recipe.add_argument("--min-lr", type=float, default=1e-6, help="stop when the learning rate falls below this")
    recipe.add_argument("--max-epochs", type=int, default=None, help="stop after this many epochs (default: no limit)")
    recipe.add_argument("--max-steps", type=int, default=None,
                        help="pause after this global step with a checkpoint and no final model; rerun to continue")
    recipe.add_argument("--validation-photos", type=int, default=10_000,
                        help="size of the fixed validation subset; 0 disables validation, so the rate never halves")

    run = parser.add_argument_group("run")
    run.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints (also at epoch end)")
    run.add_argument("--log-every", type=int, default=100, help="steps between progress log lines")
    run.add_argument("--workers", type=int, default=4, help="DataLoader worker processes per rank")
    run.add_argument("--seed", type=int, default=0, help="seed of initial weights, sampling and dropout")
    run.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="auto: cuda when available")
    run.add_argument("--deterministic", action="store_true",
                     help="use deterministic algorithms (bit-exact resume on CPU; slower on GPU)")
    run.add_argument("--precision", default="fp32", choices=PRECISIONS,
                     help="arithmetic of the trunk's forward pass: fp32, or bf16 under torch.autocast (the last "
                          "layer and the losses stay in fp32)")
    run.add_argument("--channels-last", action="store_true",
                     help="store images and convolution weights in channels_last memory format (faster on recent "
                          "NVIDIA GPUs)")
    run.add_argument("--prefetch-factor", type=int, default=2,
                     help="batches each DataLoader worker loads ahead (only with --workers > 0)")
    return parser


@dataclass
class Environment:
    """This process's place in a (possibly single-process) distributed run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def new_epoch_progress() -> dict[str, float]:
    """Return the running sums of an epoch: training loss and main-head loss over steps, steps done, seconds spent."""
    return {"loss_sum": 0.0, "main_loss_sum": 0.0, "steps": 0, "seconds": 0.0}


@dataclass
class TrainingState:
    """Everything that a checkpoint saves, plus the (possibly DDP-wrapped) trunk that training calls."""

    model: nn.Module
    trunk: nn.Module
    head: SparseHead
    aux_heads: list[SparseHead]
    optimizer: torch.optim.Optimizer
    schedule: HalvingSchedule
    step: int = 0
    epoch_progress: dict[str, float] = field(default_factory=new_epoch_progress)
    history: list[dict[str, Any]] = field(default_factory=list)


def resolve_device(choice: str, local_rank: int) -> torch.device:
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but CUDA is not available; use --device cpu or auto")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def init_distributed(device_choice: str) -> Environment:
    """Join the process group when launched by torchrun (RANK, WORLD_SIZE, LOCAL_RANK set), or else run alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_choice, local_rank)
    if world_size > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Environment(rank, world_size, local_rank, device)


@contextmanager
def determinism(enabled: bool, device: torch.device) -> Iterator[None]:
    """Switch torch to deterministic algorithms for the block and restore the previous setting afterwards."""
    previous = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    previous_benchmark = torch.backends.cudnn.benchmark
    if enabled:
        # cuBLAS reads this when it initialises, which happens at the first matrix product on the GPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # warn_only, because the backward of AdaptiveAvgPool2d has no deterministic CUDA kernel.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = device.type == "cuda"
        if device.type == "cuda":
            log.warning("--deterministic is off: a resumed GPU run matches an uninterrupted one only approximately")
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.benchmark = previous_benchmark


def step_seed(seed: int, step: int, rank: int) -> int:
    """Return the torch seed of one training step: dropout masks then depend only on (seed, step, rank)."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1, dtype=np.uint64)[0])


def git_revision() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=10, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip()


def resolved_args(args: argparse.Namespace, targets: Targets, env: Environment) -> dict[str, Any]:
    """Check the arguments and return them as a dict with `num_classes` from the targets and `world_size` added."""
    if args.num_classes is not None and args.num_classes != targets.num_classes:
        raise ValueError(
            f"--num-classes {args.num_classes} differs from the {targets.num_classes} words of {args.targets}; "
            "omit --num-classes to use the targets' dictionary size"
        )
    for name in ("batch_size", "epoch_size", "crop_size", "checkpoint_every", "log_every"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    if args.embedding_dim is not None and args.embedding_dim < 1:
        raise ValueError(f"--embedding-dim must be a positive integer, got {args.embedding_dim}")
    for name in ("workers", "validation_photos"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be zero or more, got {getattr(args, name)}")
    if not args.aux_weight >= 0:
        raise ValueError(f"--aux-weight must be zero or more, got {args.aux_weight}")
    if args.batch_size % env.world_size:
        raise ValueError(f"--batch-size {args.batch_size} is not divisible by the {env.world_size} ranks")

    config = {**vars(args), "num_classes": targets.num_classes, "world_size": env.world_size}
    # Filled in here rather than left to the builder, so that the checkpoint records the values that were used.
    parameters = inspect.signature(MODEL_BUILDERS[args.arch]).parameters
    for name in ARCH_DEFAULT_OPTIONS:
        if config[name] is None:
            config[name] = parameters[name].default
    return config


def build_training(
    config: dict[str, Any], env: Environment, class_weights: ClassWeights | None = None
) -> TrainingState:
    """Build the model, its sparse heads, the trunk optimizer and the schedule. one_vs_all needs `class_weights`."""
    # One seed before construction gives every rank, and every resumed run, the same initial weights.
    torch.manual_seed(config["seed"])
    options = {name: config[name] for name in MODEL_OPTIONS}
    model = build_model(config["arch"], config["num_classes"], **options).to(env.device)
    if config.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
    trunk = model.trunk()
    optimizer = torch.optim.SGD(
        trunk.parameters(), lr=config["lr"], momentum=config["momentum"], weight_decay=config["weight_decay"]
    )
    heads = [
        make_sparse_head(config["loss"], layer, config["momentum"], config["weight_decay"], class_weights)
        for layer in [model.head, *model.aux_heads]
    ]
    schedule = HalvingSchedule(config["lr"], config["min_epochs_per_rate"], config["min_lr"], config["max_epochs"])
    return TrainingState(model, trunk, heads[0], heads[1:], optimizer, schedule)


def one_vs_all_class_weights(
    targets: Targets, sampler: ClassUniformSampler, train_subset: np.ndarray | None
) -> ClassWeights:
    """Return the one-vs-all weights from the training photos that sampling draws from (--train-subset if given)."""
    counts = np.zeros(targets.num_classes, dtype=np.int64)
    counts[sampler.words] = sampler.word_counts
    if train_subset is None:
        num_photos = int(np.count_nonzero(targets.split == TRAIN))
    else:
        num_photos = len(np.unique(train_subset))
    weights = one_vs_all_weights(counts, num_photos)
    log.info("one-vs-all weights from %d training photos: positive weights %.3g to %.3g, negative weights up to %.3g",
             num_photos, float(weights.positive[counts > 0].min()), float(weights.positive.max()),
             float(weights.negative.max()))
    return weights


def checkpoint_state(state: TrainingState, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": state.model.state_dict(),
        "head": state.head.state_dict(),
        "aux_heads": [head.state_dict() for head in state.aux_heads],
        "optimizer": state.optimizer.state_dict(),
        "schedule": state.schedule.state_dict(),
        "step": state.step,
        "epoch": state.schedule.epoch,
        "epoch_progress": dict(state.epoch_progress),
        "history": list(state.history),
        "args": config,
    }


def check_resume_args(saved: dict[str, Any], config: dict[str, Any]) -> None:
    """Raise when the checkpoint's model or loss differs from the requested one, and warn when the recipe differs."""
    for key in MODEL_ARGS:
        value = saved.get(key, VALUES_BEFORE_OPTION.get(key))
        if value != config[key]:
            raise ValueError(
                f"checkpoint was made with {key}={value!r} but this run has {key}={config[key]!r}; "
                "use the original value or another --run-dir"
            )
    for key in RECIPE_ARGS:
        value = saved.get(key, VALUES_BEFORE_OPTION.get(key))
        if value != config[key]:
            log.warning("checkpoint was made with %s=%r, this run has %r: the resumed run will differ from an "
                        "uninterrupted one", key, value, config[key])


def restore_training(state: TrainingState, checkpoint: dict[str, Any], config: dict[str, Any]) -> None:
    check_resume_args(checkpoint["args"], config)
    state.model.load_state_dict(checkpoint["model"])
    state.head.load_state_dict(checkpoint["head"])
    aux_states = checkpoint.get("aux_heads", [])
    if len(aux_states) != len(state.aux_heads):
        raise ValueError(f"checkpoint has {len(aux_states)} auxiliary heads but the model has {len(state.aux_heads)}; "
                         "use another --run-dir")
    for head, head_state in zip(state.aux_heads, aux_states):
        head.load_state_dict(head_state)
    state.optimizer.load_state_dict(checkpoint["optimizer"])
    state.schedule.load_state_dict(checkpoint["schedule"])
    state.step = int(checkpoint["step"])
    state.epoch_progress = dict(checkpoint["epoch_progress"])
    # Checkpoints written before the main-head loss was tracked come from models without auxiliary heads.
    state.epoch_progress.setdefault("main_loss_sum", state.epoch_progress["loss_sum"])
    state.history = list(checkpoint["history"])


def wrap_for_distributed(state: TrainingState, env: Environment) -> None:
    """Wrap the trunk in DistributedDataParallel and give every rank rank 0's head."""
    if not env.distributed:
        return
    device_ids = [env.device.index] if env.device.type == "cuda" else None
    state.trunk = DistributedDataParallel(state.trunk, device_ids=device_ids)
    # DDP broadcasts only the trunk. The heads are outside it, so rank 0's copies are sent explicitly.
    for head in [state.head, *state.aux_heads]:
        for tensor in (head.weight, head.bias):
            dist.broadcast(tensor.data, src=0)


def choose_validation_photos(targets: Targets, count: int, seed: int) -> np.ndarray:
    """Return a fixed, sorted random subset of `count` validation photos that have at least one target."""
    if count == 0:
        log.warning("--validation-photos 0: no validation, so the learning rate is never halved")
        return np.zeros(0, dtype=np.int64)
    photos = targets.photos_in_split(VALIDATION)
    with_targets = photos[targets.target_counts()[photos] > 0]
    log.info("validation split: %d photos, %d skipped because they have no target in the dictionary",
             len(photos), len(photos) - len(with_targets))
    if len(with_targets) == 0:
        raise ValueError(
            "no validation photo has a target in the dictionary; check the splits of the targets file, "
            "or pass --validation-photos 0 to train without validation"
        )
    if count < len(with_targets):
        with_targets = np.sort(np.random.default_rng(seed).choice(with_targets, size=count, replace=False))
    log.info("validation subset: %d photos", len(with_targets))
    return with_targets


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        value = value.clone()
        dist.all_reduce(value)
        value /= dist.get_world_size()
    return value


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """Return the autocast context of `precision` on `device` (a no-op for fp32)."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def train_step(
    state: TrainingState, images: torch.Tensor, words: torch.Tensor, lr: float, seed: int, rank: int,
    aux_weight: float, precision: str = "fp32",
) -> list[float]:
    """Run one SGD step on one batch and return its losses averaged over ranks: total, main head, each aux head.

    The total is the main head's loss plus `aux_weight` times each auxiliary head's loss. Raises
    FloatingPointError before any update when the total is NaN or infinite.
    """
    torch.manual_seed(step_seed(seed, state.step, rank))
    with autocast(images.device, precision):
        output = state.trunk(images)
    if len(output.aux_features) != len(state.aux_heads):
        raise RuntimeError(f"the trunk returned {len(output.aux_features)} auxiliary features for "
                           f"{len(state.aux_heads)} auxiliary heads; train the model in training mode")
    # One class set for all heads, so the ranks exchange their words once per step.
    classes = batch_classes(words)
    # The sparse heads run outside autocast, in fp32, on fp32 features.
    terms = [state.head.loss(output.features.float(), words, classes)]
    terms += [head.loss(features.float(), words, classes)
              for head, features in zip(state.aux_heads, output.aux_features)]
    loss = terms[0]
    for term in terms[1:]:
        loss = loss + aux_weight * term

    # Averaged over ranks so that every rank gets the same value and all of them stop together on NaN.
    values = mean_over_ranks(torch.stack([loss, *terms]).detach()).tolist()
    if not math.isfinite(values[0]):
        raise FloatingPointError(
            f"training loss is {values[0]} at step {state.step} (lr {lr:g}); the weights of this step were not "
            "updated and the last checkpoint is kept. Lower --lr or check the input images"
        )

    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for head in [state.head, *state.aux_heads]:
        head.step(lr)
    state.optimizer.step()
    return values


@dataclass
class RunContext:
    """The inputs that stay fixed for a whole run."""

    config: dict[str, Any]
    env: Environment
    run_dir: Path
    store: ImageStore
    targets: Targets
    sampler: ClassUniformSampler
    validation_photos: np.ndarray
    dictionary_words: list[str] | None

    @property
    def steps_per_epoch(self) -> int:
        # An epoch is rounded up to whole global batches.
        return math.ceil(self.config["epoch_size"] / self.config["batch_size"])


def to_device(images: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """Move a batch of images to the device, in channels_last memory format when asked."""
    images = images.to(device, non_blocking=True)
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


def train_one_epoch(state: TrainingState, run: RunContext) -> bool:
    """Train from the current step to the end of the epoch or to --max-steps, and return whether the epoch ended."""
    config, env = run.config, run.env
    epoch_end = (state.schedule.epoch + 1) * run.steps_per_epoch
    stop = epoch_end if config["max_steps"] is None else min(epoch_end, config["max_steps"])
    loader = make_train_loader(
        run.store, run.sampler, config["crop_size"], state.step, stop, config["workers"], env.device.type == "cuda",
        config.get("prefetch_factor", 2),
    )
    lr = state.schedule.lr
    for group in state.optimizer.param_groups:
        group["lr"] = lr

    state.model.train()
    end = time.perf_counter()
    for images, words in loader:
        data_time = time.perf_counter() - end
        images = to_device(images, env.device, config.get("channels_last", False))
        words = words.to(env.device, non_blocking=True)
        loss, main_loss, *aux_losses = train_step(
            state, images, words, lr, config["seed"], env.rank, config["aux_weight"], config.get("precision", "fp32")
        )
        state.step += 1
        batch_time = time.perf_counter() - end

        progress = state.epoch_progress
        progress["loss_sum"] += loss
        progress["main_loss_sum"] += main_loss
        progress["steps"] += 1
        progress["seconds"] += batch_time
        if env.is_main and state.step % config["log_every"] == 0:
            log.info(
                "epoch %d step %d/%d | loss %.4f (main %.4f%s) | lr %g | data %.3f s | batch %.3f s | "
                "%.1f samples/s",
                state.schedule.epoch + 1, state.step, epoch_end, loss, main_loss,
                "".join(f", aux{index + 1} {value:.4f}" for index, value in enumerate(aux_losses)),
                lr, data_time, batch_time, config["batch_size"] / batch_time,
            )
        if env.is_main and state.step % config["checkpoint_every"] == 0 and state.step != epoch_end:
            save_checkpoint(run.run_dir, checkpoint_state(state, config))
        end = time.perf_counter()

    if state.step == epoch_end:
        return True
    if env.is_main:
        save_checkpoint(run.run_dir, checkpoint_state(state, config))
    return False


@torch.no_grad()
def validate(model: nn.Module, run: RunContext) -> float | None:
    """Return the validation error (see the module docstring), or None without validation photos."""
    if len(run.validation_photos) == 0:
        return None
    env = run.env
    if env.distributed:
        # Each rank updates its own batch-norm statistics. All ranks evaluate rank 0's, the model that is saved.
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)
    photos = run.validation_photos[env.rank :: env.world_size]
    loader = make_photo_loader(
        run.store, photos, run.config["crop_size"], run.config["batch_size"] // env.world_size,
        run.config["workers"], env.device.type == "cuda",
    )
    model.eval()
    totals = torch.zeros(2, dtype=torch.float64, device=env.device)
    for images, positions in tqdm(loader, desc="validation", disable=not env.is_main, mininterval=30):
        with autocast(env.device, run.config.get("precision", "fp32")):
            logits = model(to_device(images, env.device, run.config.get("channels_last", False))).float()
        rows = [run.targets.targets_of(photo) for photo in photos[positions.numpy()]]
        errors = multilabel_softmax_error(logits, target_mask(rows, run.targets.num_classes, env.device))
        totals[0] += errors.double().sum()
        totals[1] += len(errors)
    model.train()

    if env.distributed:
        dist.all_reduce(totals)
    return float(totals[0] / totals[1])


def finish_epoch(state: TrainingState, run: RunContext) -> None:
    """Validate, update the learning rate, record the epoch's metrics and save a checkpoint."""
    validation_start = time.perf_counter()
    error = validate(state.model, run)
    validation_seconds = time.perf_counter() - validation_start

    lr = state.schedule.lr
    next_lr = state.schedule.step_epoch(error)
    progress = state.epoch_progress
    record = {
        "epoch": state.schedule.epoch,
        "step": state.step,
        "lr": lr,
        "next_lr": next_lr,
        "train_loss": progress["loss_sum"] / max(progress["steps"], 1),
        "train_main_loss": progress["main_loss_sum"] / max(progress["steps"], 1),
        "validation_error": error,
        "images_per_second": progress["steps"] * run.config["batch_size"] / max(progress["seconds"], 1e-9),
        "seconds": progress["seconds"] + validation_seconds,
    }
    state.history.append(record)
    state.epoch_progress = new_epoch_progress()
    if run.env.is_main:
        log.info("epoch %d done: %s", record["epoch"], json.dumps(record, sort_keys=True))
        # The checkpoint first: metrics.jsonl is rewritten from the saved history, so the two always agree.
        save_checkpoint(run.run_dir, checkpoint_state(state, run.config))
        write_metrics(run.run_dir, state.history)


def write_metrics(run_dir: Path, history: Sequence[dict[str, Any]]) -> None:
    with atomic_open(run_dir / METRICS_NAME, "w", encoding="utf-8") as handle:
        for record in history:
            handle.write(json.dumps(record, sort_keys=True) + "\n")


def train(state: TrainingState, run: RunContext) -> bool:
    """Train until the schedule finishes or --max-steps pauses the run, and return whether it finished."""
    while not state.schedule.finished:
        if not train_one_epoch(state, run):
            log.info("paused at step %d (--max-steps %s); run the same command again to continue",
                     state.step, run.config["max_steps"])
            return False
        finish_epoch(state, run)
    log.info("training finished after %d epochs (%d steps): %s",
             state.schedule.epoch, state.step, state.schedule.stop_reason)
    return True


def load_train_subset(path: str | None) -> np.ndarray | None:
    if path is None:
        return None
    subset = np.load(path)
    if subset.ndim != 1 or not np.issubdtype(subset.dtype, np.integer):
        raise ValueError(f"{path}: expected a 1-D integer array of photo numbers, got {subset.dtype} {subset.shape}")
    return subset


def prepare_run(args: argparse.Namespace, env: Environment) -> tuple[TrainingState, RunContext]:
    """Read the inputs, build the model and optimizers, and restore the checkpoint of --run-dir if there is one."""
    targets = load_targets(args.targets)
    config = resolved_args(args, targets, env)
    run_dir = Path(args.run_dir)
    store = open_image_store(args.corpus_dir, expected_photos=targets.num_photos)
    train_subset = load_train_subset(args.train_subset)
    sampler = ClassUniformSampler(
        targets, args.batch_size // env.world_size, args.seed, env.rank, env.world_size, train_subset=train_subset
    )
    validation_photos = choose_validation_photos(targets, args.validation_photos, args.seed)
    words = read_dictionary_words(args.dictionary, targets.num_classes)
    run = RunContext(config, env, run_dir, store, targets, sampler, validation_photos, words)

    class_weights = None
    if config["loss"] == "one_vs_all":
        class_weights = one_vs_all_class_weights(targets, sampler, train_subset)
    state = build_training(config, env, class_weights)
    checkpoint = load_checkpoint(run_dir, map_location=env.device)
    if checkpoint is not None:
        restore_training(state, checkpoint, config)
    wrap_for_distributed(state, env)
    log.info("%s with the %s loss and %d auxiliary heads; %d words can be drawn; %d steps of %d images per epoch",
             args.arch, args.loss, len(state.aux_heads), sampler.num_words, run.steps_per_epoch, args.batch_size)
    return state, run


def read_dictionary_words(path: str | None, num_classes: int) -> list[str] | None:
    """Return the words of --dictionary, checked against the dictionary size of the targets, or None."""
    if path is None:
        return None
    words = load_dictionary(path)
    if len(words) != num_classes:
        raise ValueError(f"dictionary {path} has {len(words)} words but the targets have {num_classes}; "
                         "pass the dictionary that the targets were built from")
    return words


def model_meta(state: TrainingState, run: RunContext) -> dict[str, Any]:
    """Return the metadata of the final model file: what evaluation needs besides the weights."""
    config = run.config
    return {"crop_size": config["crop_size"], "targets": str(config["targets"]), "dictionary": config["dictionary"],
            "words": run.dictionary_words, "loss": config["loss"], "epochs": state.schedule.epoch,
            "steps": state.step}


def log_start(args: argparse.Namespace, env: Environment) -> None:
    log.info("git revision %s; rank %d of %d on %s", git_revision(), env.rank, env.world_size, env.device)
    for key, value in sorted(vars(args).items()):
        log.info("argument %s = %r", key, value)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = init_distributed(args.device)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # Only rank 0 logs progress, so the log reads as one run. Other ranks log warnings and errors.
    if env.is_main:
        setup_logging(args.log_file or str(run_dir / "train.log"), logging.INFO)
    else:
        setup_logging(None, logging.WARNING)
    try:
        log_start(args, env)
        if env.is_main:
            write_json(run_dir / "args.json", vars(args))
        with determinism(args.deterministic, env.device):
            state, run = prepare_run(args, env)
            finished = train(state, run)
        if finished and env.is_main:
            save_model(args.output, without_aux_classifiers(state.model), model_meta(state, run))
    except Exception:
        # Logged as well as raised, so that the log file of a failed job shows the reason.
        log.exception("training failed on rank %d", env.rank)
        raise
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
