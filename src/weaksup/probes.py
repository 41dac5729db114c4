"""L2-regularised logistic-regression probes on fixed features (Joulin et al., ECCV 2016, Tables 1 to 3).

Two probes, both linear maps W (num_classes x E) and b (num_classes) on standardised features:

- softmax: multinomial logistic regression. The target distribution of a photo is uniform over its classes, so a
  single-label photo gives the usual cross-entropy, and a photo with several dictionary words gives the paper's
  multiclass logistic loss with soft targets. Photos without a target are left out of fitting and counted.
- binary: one binary logistic regressor per class (one-vs-all, unweighted), as for Pascal VOC. A target entry
  that is NaN is ignored for that class only.

Objective: (mean over the N fitted photos of the data loss) + ||W||^2 / (2 * C * N), with the bias b not
penalised. Multiplied by C * N this is scikit-learn's C * sum_i loss_i + ||W||^2 / 2 (LogisticRegression with an
L2 penalty and the lbfgs solver, scikit-learn 1.9), so values of C mean the same in both. The data loss of the
binary probe is the sum of the per-class binary log losses, so each class solves the objective of its own
scikit-learn binary regressor with the same C.

Features are standardised with the mean and standard deviation (ddof 0) of the fitted photos' features, and W
applies to standardised features. Fitting is full-batch L-BFGS (torch.optim.LBFGS with a strong-Wolfe line
search). Every evaluation of the loss and gradient is summed over chunks of rows, so the working memory grows
with the chunk size and not with N, apart from the targets and the feature cache (see `ProbeOptions`). The same code runs on a CPU for the demo
and on a GPU for ImageNet-size features (1.28M x 4,096).

NOTE: the CUDA path (device cache, memory check, speed at ImageNet size) has only been run on a CPU so far.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score
from tqdm import tqdm

from weaksup.atomic import save_npz
from weaksup.evaluate import DEFAULT_KS, PrecisionAccumulator
from weaksup.targets import Targets
from weaksup.train import resolve_device

log = logging.getLogger(__name__)

SOFTMAX, BINARY = "softmax", "binary"
# Rows x (E + num_classes) elements per chunk when ProbeOptions.chunk_rows is None: 128 MiB of float64 inputs
# and logits, so the matrix products are large enough to be efficient.
AUTO_CHUNK_ELEMENTS = 2**24
MIN_AUTO_CHUNK_ROWS = 256
# Fraction of the free GPU memory that the standardised feature cache may take.
DEVICE_CACHE_FRACTION = 0.5
# The cache is stored in float32. The features come from float32 networks, and the cache is a fixed input, so
# its rounding does not make the objective noisy.
CACHE_DTYPE = torch.float32
# Objective evaluations allowed in one L-BFGS iteration, line search included (torch's default max_ls is 25).
MAX_EVALUATIONS_PER_ITERATION = 25

FeatureArray = np.ndarray | torch.Tensor
Metric = str | Callable[[torch.Tensor, Any], float]


@dataclass(frozen=True)
class TargetRows:
    """Targets of N photos in compressed sparse row form: photo i has the classes `classes[indptr[i]:indptr[i+1]]`.

    The class ids of one photo must be distinct, because each one gets an equal share of the photo's soft target.
    """

    indptr: np.ndarray
    classes: np.ndarray
    num_classes: int

    def __post_init__(self) -> None:
        indptr = np.asarray(self.indptr, dtype=np.int64)
        classes = np.asarray(self.classes, dtype=np.int64)
        if indptr.ndim != 1 or len(indptr) == 0 or indptr[0] != 0 or indptr[-1] != len(classes):
            raise ValueError(f"indptr must start at 0 and end at the {len(classes)} classes, got {indptr[:3]}...")
        if np.any(np.diff(indptr) < 0):
            raise ValueError("indptr must be non-decreasing")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {self.num_classes}")
        outside = classes[(classes < 0) | (classes >= self.num_classes)]
        if len(outside):
            raise ValueError(f"{len(outside)} class ids outside 0..{self.num_classes - 1}, e.g. {outside[0]}")
        photo_of_entry = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        pairs = np.unique(photo_of_entry * self.num_classes + classes, return_counts=True)
        if np.any(pairs[1] > 1):
            repeated = int(pairs[0][np.argmax(pairs[1] > 1)])
            raise ValueError(f"photo {repeated // self.num_classes} has class {repeated % self.num_classes} more "
                             "than once; give each class once per photo")
        object.__setattr__(self, "indptr", indptr)
        object.__setattr__(self, "classes", classes)

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[int] | np.ndarray], num_classes: int) -> "TargetRows":
        """Build from one sequence of class ids per photo (repeated ids within a row are kept once)."""
        unique_rows = [np.unique(np.asarray(row, dtype=np.int64)) for row in rows]
        indptr = np.concatenate([[0], np.cumsum([len(row) for row in unique_rows])])
        classes = np.concatenate(unique_rows) if unique_rows else np.zeros(0, dtype=np.int64)
        return cls(indptr, classes, num_classes)

    @classmethod
    def from_labels(cls, labels: Sequence[int] | np.ndarray, num_classes: int) -> "TargetRows":
        """Build single-label targets from one class id per photo. A negative label means no target."""
        labels = np.asarray(labels, dtype=np.int64)
        has_label = labels >= 0
        indptr = np.concatenate([[0], np.cumsum(has_label)])
        return cls(indptr, labels[has_label], num_classes)

    @classmethod
    def from_targets(cls, targets: Targets, photos: Sequence[int] | np.ndarray) -> "TargetRows":
        """Build the targets of the given global photo numbers, in that order, from a targets file."""
        return cls(targets.indptr, targets.words, targets.num_classes).select(np.asarray(photos, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def counts(self) -> np.ndarray:
        """Return the number of classes of every photo."""
        return np.diff(self.indptr)

    def rows(self, start: int = 0, stop: int | None = None) -> list[np.ndarray]:
        """Return the class ids of photos start..stop - 1, one array per photo."""
        stop = len(self) if stop is None else stop
        return [self.classes[self.indptr[i] : self.indptr[i + 1]] for i in range(start, stop)]

    def select(self, photos: np.ndarray) -> "TargetRows":
        """Return the targets of the given positions, in that order."""
        counts = self.counts()[photos]
        indptr = np.concatenate([[0], np.cumsum(counts)])
        # Entry j of the result is entry (j - its row's new start) of that row's old start.
        offsets = np.arange(indptr[-1]) - np.repeat(indptr[:-1], counts)
        return TargetRows(indptr, self.classes[np.repeat(self.indptr[photos], counts) + offsets], self.num_classes)

    def concatenate(self, other: "TargetRows") -> "TargetRows":
        """Return the photos of self followed by those of other."""
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot join targets of {self.num_classes} and {other.num_classes} classes")
        indptr = np.concatenate([self.indptr, other.indptr[1:] + self.indptr[-1]])
        return TargetRows(indptr, np.concatenate([self.classes, other.classes]), self.num_classes)


@dataclass
class ProbeData:
    """Features (N, E) and targets of N photos.

    The type of `targets` selects the probe: `TargetRows` fits the softmax probe, and a float array
    (N, num_classes) of 0/1 entries (NaN: ignored) fits the binary probe. Features may be a numpy memmap, which
    is read chunk by chunk.
    """

    features: FeatureArray
    targets: TargetRows | np.ndarray

    def __post_init__(self) -> None:
        if len(self.features.shape) != 2:
            raise ValueError(f"features must be a 2-D (photos, E) array, got shape {tuple(self.features.shape)}")
        if isinstance(self.targets, np.ndarray):
            if self.targets.ndim != 2:
                raise ValueError(
                    f"binary targets must be a 2-D (photos, classes) array, got shape {self.targets.shape}; "
                    "wrap single-label or word targets in TargetRows"
                )
            known = self.targets[~np.isnan(self.targets)]
            if np.any((known != 0) & (known != 1)):
                raise ValueError("binary targets must be 0, 1 or NaN (ignored)")
        elif not isinstance(self.targets, TargetRows):
            raise TypeError(f"targets must be TargetRows or a 2-D numpy array, got {type(self.targets).__name__}")
        if len(self.targets) != self.features.shape[0]:
            raise ValueError(f"{self.features.shape[0]} feature rows but {len(self.targets)} target rows")

    @property
    def loss(self) -> str:
        return SOFTMAX if isinstance(self.targets, TargetRows) else BINARY

    @property
    def num_classes(self) -> int:
        return self.targets.num_classes if isinstance(self.targets, TargetRows) else self.targets.shape[1]

    def rows_with_targets(self) -> np.ndarray:
        """Return the positions of the photos that take part in fitting."""
        if isinstance(self.targets, TargetRows):
            return np.flatnonzero(self.targets.counts() > 0)
        return np.flatnonzero(~np.all(np.isnan(self.targets), axis=1))


@dataclass(frozen=True)
class ProbeOptions:
    """Settings of one probe fit.

    dtype: dtype of the weights and of all arithmetic. float64 keeps the objective smooth enough for the line
    search down to tolerance_grad 1e-5. In float32 the objective stops resolving the line search's decrease
    near a gradient of about 1e-5, so raise tolerance_grad to about 1e-4 with it.
    cache_features: None keeps a standardised float32 copy of the fitted features on the compute device when
    it fits in half the free GPU memory, and always on a CPU. False reads and standardises the chunks again at
    every evaluation, which bounds memory by the chunk size.
    """

    # L-BFGS iterations per fit. Each takes one or more full passes over the features.
    max_iter: int = 1000
    # Stop when max |gradient| of the objective is at most this (scikit-learn's default tol is 1e-4).
    tolerance_grad: float = 1e-5
    # Stop when the objective or the step changes by less than this.
    tolerance_change: float = 1e-9
    history_size: int = 20
    # Rows per chunk. None means AUTO_CHUNK_ELEMENTS / (E + num_classes), at least MIN_AUTO_CHUNK_ROWS.
    chunk_rows: int | None = None
    device: str = "auto"
    dtype: torch.dtype = torch.float64
    cache_features: bool | None = None


@dataclass
class FitInfo:
    """Record of one L-BFGS fit: effort, end point and the photos used."""

    iterations: int
    evaluations: int
    seconds: float
    objective: float
    max_abs_gradient: float
    converged: bool
    # "converged" (max |gradient| <= tolerance_grad), "max_iter", "max_eval", "line search stalled" or
    # "no progress" (the objective or the step changed by less than tolerance_change).
    stop_reason: str
    photos: int
    photos_without_targets: int


@dataclass
class ProbeResult:
    """A fitted probe: weight (num_classes, E) and bias on features standardised with `mean` and `std`."""

    loss: str
    weight: torch.Tensor
    bias: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    C: float
    fit: FitInfo
    metric: str | None = None
    validation_scores: dict[float, float] = field(default_factory=dict)
    # "train" or "train+validation": the photos of the final fit.
    fitted_on: str = "train"

    @property
    def num_classes(self) -> int:
        return self.weight.shape[0]

    def iter_scores(
        self, features: FeatureArray, chunk_rows: int | None = None, device: str = "auto"
    ) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Yield (start, stop, scores) for consecutive row chunks, with the logits (rows, num_classes) on device."""
        if features.shape[1] != self.weight.shape[1]:
            raise ValueError(f"features have {features.shape[1]} dimensions, the probe expects {self.weight.shape[1]}")
        torch_device = resolve_device(device, 0)
        weight, bias = self.weight.to(torch_device), self.bias.to(torch_device)
        mean, std = self.mean.to(torch_device), self.std.to(torch_device)
        chunk_rows = chunk_rows or auto_chunk_rows(features.shape[1], self.num_classes)
        with torch.no_grad():
            for start in range(0, features.shape[0], chunk_rows):
                stop = min(start + chunk_rows, features.shape[0])
                rows = _as_tensor(features[start:stop], torch_device, weight.dtype)
                yield start, stop, ((rows - mean) / std) @ weight.T + bias

    def predict_scores(self, features: FeatureArray, chunk_rows: int | None = None, device: str = "auto") -> torch.Tensor:
        """Return the logits (N, num_classes) of features (N, E) as a float32 CPU tensor."""
        chunks = [scores.float().cpu() for _, _, scores in self.iter_scores(features, chunk_rows, device)]
        return torch.cat(chunks) if chunks else torch.zeros(0, self.num_classes)

    def save(self, path: str | os.PathLike) -> None:
        """Write the weights and the metadata to an .npz file atomically (read it back with `load_probe`)."""
        meta = {"loss": self.loss, "C": self.C, "metric": self.metric, "fitted_on": self.fitted_on,
                "fit": asdict(self.fit), "validation_scores": [[c, s] for c, s in self.validation_scores.items()]}
        save_npz(path, weight=self.weight.cpu().numpy(), bias=self.bias.cpu().numpy(),
                 mean=self.mean.cpu().numpy(), std=self.std.cpu().numpy(),
                 meta=np.array(json.dumps(meta, sort_keys=True)))


def load_probe(path: str | os.PathLike) -> ProbeResult:
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        tensors = {name: torch.from_numpy(data[name]) for name in ("weight", "bias", "mean", "std")}
    return ProbeResult(
        loss=meta["loss"], C=meta["C"], fit=FitInfo(**meta["fit"]), metric=meta["metric"],
        validation_scores={c: s for c, s in meta["validation_scores"]}, fitted_on=meta["fitted_on"], **tensors,
    )


def auto_chunk_rows(embedding_dim: int, num_classes: int) -> int:
    return max(MIN_AUTO_CHUNK_ROWS, AUTO_CHUNK_ELEMENTS // (embedding_dim + num_classes))


def _as_tensor(rows: FeatureArray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    if not isinstance(rows, torch.Tensor):
        rows = torch.from_numpy(np.ascontiguousarray(rows))
    return rows.to(device, dtype)


# ---------------------------------------------------------------------------------------------------------------
# Standardised features and the chunked objective
# ---------------------------------------------------------------------------------------------------------------


def feature_statistics(
    features: FeatureArray, rows: np.ndarray, chunk_rows: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the float64 mean and standard deviation (ddof 0) of features[rows], with a zero deviation set to 1.

    Raises ValueError on a NaN or infinite feature, naming the row.
    """
    # Sums of values shifted by the first row keep the variance precise for features with a large mean.
    shift = _as_tensor(features[rows[:1]], device, torch.float64)[0]
    total = torch.zeros_like(shift)
    total_squares = torch.zeros_like(shift)
    for start in range(0, len(rows), chunk_rows):
        chunk = _as_tensor(features[rows[start : start + chunk_rows]], device, torch.float64) - shift
        bad = ~torch.isfinite(chunk).all(dim=1)
        if bad.any():
            row = int(rows[start + int(torch.nonzero(bad)[0, 0])])
            raise ValueError(f"feature row {row} has a NaN or infinite value; recompute the features of that photo")
        total += chunk.sum(dim=0)
        total_squares += (chunk**2).sum(dim=0)

    shifted_mean = total / len(rows)
    std = (total_squares / len(rows) - shifted_mean**2).clamp_min(0).sqrt()
    mean = shift + shifted_mean
    constant = std <= 1e-12 * mean.abs().clamp_min(1.0)
    if constant.any():
        log.info("%d of %d feature dimensions are constant over the fitted photos; they are centred but not scaled",
                 int(constant.sum()), features.shape[1])
    std[constant] = 1.0
    return mean.cpu(), std.cpu()


class StandardisedFeatures:
    """The rows `rows` of a feature array, standardised and delivered in chunks on the compute device."""

    def __init__(self, features: FeatureArray, rows: np.ndarray, mean: torch.Tensor, std: torch.Tensor,
                 device: torch.device, options: ProbeOptions, chunk_rows: int):
        self.features, self.rows = features, rows
        self.device, self.dtype, self.chunk_rows = device, options.dtype, chunk_rows
        self.mean = mean.to(device, options.dtype)
        self.std = std.to(device, options.dtype)
        self.cache: torch.Tensor | None = None
        if self._should_cache(options.cache_features):
            self.cache = torch.empty(len(rows), features.shape[1], dtype=CACHE_DTYPE, device=device)
            for start, stop, chunk in self._read_chunks():
                self.cache[start:stop] = chunk

    def __len__(self) -> int:
        return len(self.rows)

    def _should_cache(self, requested: bool | None) -> bool:
        if requested is not None:
            return requested
        if self.device.type != "cuda":
            return True
        needed = len(self.rows) * self.features.shape[1] * torch.tensor([], dtype=CACHE_DTYPE).element_size()
        free, _ = torch.cuda.mem_get_info(self.device)
        fits = needed <= DEVICE_CACHE_FRACTION * free
        if not fits:
            log.info("standardised features need %.1f GiB, more than %.0f%% of the %.1f GiB free on %s: they are "
                     "streamed from host memory at every evaluation", needed / 2**30, 100 * DEVICE_CACHE_FRACTION,
                     free / 2**30, self.device)
        return fits

    def _read_chunks(self) -> Iterator[tuple[int, int, torch.Tensor]]:
        for start in range(0, len(self.rows), self.chunk_rows):
            stop = min(start + self.chunk_rows, len(self.rows))
            chunk = _as_tensor(self.features[self.rows[start:stop]], self.device, self.dtype)
            yield start, stop, (chunk - self.mean) / self.std

    def chunks(self) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Yield (start, stop, standardised rows start..stop - 1) over all fitted photos."""
        if self.cache is None:
            yield from self._read_chunks()
            return
        for start in range(0, len(self.rows), self.chunk_rows):
            stop = min(start + self.chunk_rows, len(self.rows))
            yield start, stop, self.cache[start:stop].to(self.dtype)


class SoftmaxLoss:
    """Sum over photos of the cross-entropy between the softmax and the uniform distribution over the targets."""

    def __init__(self, targets: TargetRows, device: torch.device, dtype: torch.dtype):
        counts = targets.counts()
        self.indptr = targets.indptr
        self.entry_rows = torch.from_numpy(np.repeat(np.arange(len(targets)), counts)).to(device)
        self.entry_classes = torch.from_numpy(targets.classes).to(device)
        self.entry_weights = torch.from_numpy(1.0 / np.repeat(counts, counts)).to(device, dtype)

    def __call__(self, logits: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        first, last = self.indptr[start], self.indptr[stop]
        rows = self.entry_rows[first:last] - start
        picked = F.log_softmax(logits, dim=1)[rows, self.entry_classes[first:last]]
        # Summed in float64, so that the objective resolves changes below float32 resolution for the line search.
        return -(self.entry_weights[first:last] * picked).double().sum()


class BinaryLoss:
    """Sum over photos and classes of the binary log loss, with NaN targets left out."""

    def __init__(self, targets: np.ndarray, device: torch.device, dtype: torch.dtype):
        known = ~np.isnan(targets)
        self.targets = torch.from_numpy(np.where(known, targets, 0.0)).to(device, dtype)
        self.known = torch.from_numpy(known).to(device, dtype)

    def __call__(self, logits: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        losses = F.binary_cross_entropy_with_logits(
            logits, self.targets[start:stop], weight=self.known[start:stop], reduction="none"
        )
        # Summed in float64, so that the objective resolves changes below float32 resolution for the line search.
        return losses.double().sum()


# ---------------------------------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------------------------------


class LineSearchStalled(Exception):
    """Raised from the objective when one L-BFGS iteration needs more than MAX_EVALUATIONS_PER_ITERATION."""


class ChunkedObjective:
    """The probe objective, summed over feature chunks, as the closure that torch.optim.LBFGS calls.

    It also keeps the best point evaluated so far, and stops a line search that cannot find a sufficient
    decrease. torch.optim.LBFGS (torch 2.14) gives a line search every evaluation left in max_eval, so in float32
    near the optimum, where the objective no longer resolves the predicted decrease, one line search would
    otherwise use up the whole budget.
    """

    def __init__(self, design: StandardisedFeatures, loss_sum: Callable[[torch.Tensor, int, int], torch.Tensor],
                 weight: torch.Tensor, bias: torch.Tensor, C: float):
        self.design, self.loss_sum = design, loss_sum
        self.weight, self.bias, self.C = weight, bias, C
        self.optimizer: torch.optim.LBFGS | None = None
        self.best_value = math.inf
        self.best_point: tuple[torch.Tensor, torch.Tensor] | None = None
        self.evaluations = 0
        self.iteration = -1
        self.evaluations_in_iteration = 0
        self.progress = tqdm(desc=f"L-BFGS C={C:g}", unit=" evaluations", mininterval=10, leave=False)

    def __call__(self) -> torch.Tensor:
        self._count_evaluation()
        return self.evaluate()

    def evaluate(self) -> torch.Tensor:
        """Return the objective at the current point and leave its gradient in weight.grad and bias.grad."""
        self.optimizer.zero_grad()
        n = len(self.design)
        total = 0.0
        for start, stop, rows in self.design.chunks():
            chunk_loss = self.loss_sum(rows @ self.weight.T + self.bias, start, stop) / n
            chunk_loss.backward()
            total += chunk_loss.item()
        penalty = self.weight.pow(2).sum() / (2 * self.C * n)
        penalty.backward()
        total += penalty.item()

        if not math.isfinite(total):
            raise FloatingPointError(f"probe objective is {total} at C={self.C:g}; check the features for "
                                     "extreme values")
        if total < self.best_value:
            self.best_value = total
            self.best_point = (self.weight.detach().clone(), self.bias.detach().clone())
        self.evaluations += 1
        self.progress.update()
        self.progress.set_postfix(objective=f"{total:.6g}", refresh=False)
        return torch.tensor(total, dtype=torch.float64)

    def _count_evaluation(self) -> None:
        # LBFGS keeps its iteration count in the state of its first parameter.
        iteration = self.optimizer.state[self.weight].get("n_iter", 0)
        if iteration != self.iteration:
            self.iteration, self.evaluations_in_iteration = iteration, 0
        self.evaluations_in_iteration += 1
        if self.evaluations_in_iteration > MAX_EVALUATIONS_PER_ITERATION:
            raise LineSearchStalled()

    def restore_best_point(self) -> None:
        with torch.no_grad():
            self.weight.copy_(self.best_point[0])
            self.bias.copy_(self.best_point[1])


def _stop_reason(max_abs_gradient: float, stalled: bool, iterations: int, evaluations: int, max_eval: int,
                 options: ProbeOptions) -> str:
    """Return the `FitInfo.stop_reason` of a finished fit."""
    if max_abs_gradient <= options.tolerance_grad:
        return "converged"
    if stalled:
        return "line search stalled"
    if iterations >= options.max_iter:
        return "max_iter"
    if evaluations >= max_eval:
        return "max_eval"
    return "no progress"


def _run_lbfgs(
    design: StandardisedFeatures,
    loss_sum: Callable[[torch.Tensor, int, int], torch.Tensor],
    num_classes: int,
    C: float,
    options: ProbeOptions,
    init: tuple[torch.Tensor, torch.Tensor] | None,
) -> tuple[torch.Tensor, torch.Tensor, FitInfo]:
    """Minimise mean(loss) + ||W||^2 / (2 C N) over (W, b) and return them with the fit's record."""
    dim = design.features.shape[1]
    if init is None:
        weight = torch.zeros(num_classes, dim, device=design.device, dtype=options.dtype)
        bias = torch.zeros(num_classes, device=design.device, dtype=options.dtype)
    else:
        weight, bias = (tensor.detach().to(design.device, options.dtype).clone() for tensor in init)
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    max_eval = options.max_iter * 5 // 4
    objective = ChunkedObjective(design, loss_sum, weight, bias, C)
    objective.optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=options.max_iter, max_eval=max_eval,
        tolerance_grad=options.tolerance_grad, tolerance_change=options.tolerance_change,
        history_size=options.history_size, line_search_fn="strong_wolfe",
    )

    started = time.perf_counter()
    stalled = False
    try:
        try:
            objective.optimizer.step(objective)
        except LineSearchStalled:
            stalled = True
            objective.restore_best_point()
        # One more evaluation, for the gradient at the returned point: L-BFGS may stop right after a line search.
        final = float(objective.evaluate())
    finally:
        objective.progress.close()
    iterations = int(objective.optimizer.state[weight].get("n_iter", 0))
    max_abs_gradient = max(float(weight.grad.abs().max()), float(bias.grad.abs().max()))

    stop_reason = _stop_reason(max_abs_gradient, stalled, iterations, objective.evaluations, max_eval, options)
    info = FitInfo(
        iterations=iterations, evaluations=objective.evaluations, seconds=time.perf_counter() - started,
        objective=final, max_abs_gradient=max_abs_gradient, converged=stop_reason == "converged",
        stop_reason=stop_reason, photos=len(design), photos_without_targets=0,
    )
    return weight.detach(), bias.detach(), info


def check_optimizer_memory(num_classes: int, dim: int, options: ProbeOptions, device: torch.device) -> None:
    """Log the memory that the weights and L-BFGS need, and raise when it exceeds the free GPU memory.

    L-BFGS keeps 2 * history_size vectors of the size of (W, b), and the fit about 6 more (weights, gradient,
    search direction, previous gradient, best point, line-search copy). At K = 100,000 words and E = 4,096 that
    is about 150 GB in float64 with history_size 20, so large dictionaries need a short history or float32.
    """
    element_size = torch.tensor([], dtype=options.dtype).element_size()
    needed = (2 * options.history_size + 6) * num_classes * (dim + 1) * element_size
    log.info("weights and L-BFGS state: about %.2f GiB (%d classes x %d features, history %d, %s)",
             needed / 2**30, num_classes, dim, options.history_size, options.dtype)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if needed > free:
            raise MemoryError(
                f"the probe's weights and L-BFGS state need about {needed / 2**30:.1f} GiB but {device} has "
                f"{free / 2**30:.1f} GiB free; lower history_size ({options.history_size}) or use float32"
            )


def fit_probe(
    data: ProbeData, C: float, options: ProbeOptions | None = None,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> ProbeResult:
    """Fit the probe that the type of `data.targets` selects (see `ProbeData`) at regularisation C.

    `init` (weight, bias) starts L-BFGS from an earlier solution on the same standardisation (a warm start).
    """
    if not C > 0:
        raise ValueError(f"C must be positive, got {C}")
    options = options or ProbeOptions()
    device = resolve_device(options.device, 0)
    rows = data.rows_with_targets()
    skipped = data.features.shape[0] - len(rows)
    if len(rows) == 0:
        raise ValueError(f"none of the {data.features.shape[0]} photos has a target, so there is nothing to fit")
    if skipped:
        log.info("%d of %d photos have no target and are left out of the fit", skipped, data.features.shape[0])

    check_optimizer_memory(data.num_classes, data.features.shape[1], options, device)
    chunk_rows = options.chunk_rows or auto_chunk_rows(data.features.shape[1], data.num_classes)
    mean, std = feature_statistics(data.features, rows, chunk_rows, device)
    design = StandardisedFeatures(data.features, rows, mean, std, device, options, chunk_rows)
    if data.loss == SOFTMAX:
        loss_sum = SoftmaxLoss(data.targets.select(rows), device, options.dtype)
    else:
        loss_sum = BinaryLoss(data.targets[rows], device, options.dtype)

    weight, bias, info = _run_lbfgs(design, loss_sum, data.num_classes, C, options, init)
    info.photos_without_targets = skipped
    log.info("%s probe C=%g on %d photos x %d features, %d classes: objective %.6g after %d iterations "
             "(%d evaluations, %.1f s), max |gradient| %.2g", data.loss, C, len(rows), data.features.shape[1],
             data.num_classes, info.objective, info.iterations, info.evaluations, info.seconds,
             info.max_abs_gradient)
    if not info.converged:
        advice = ("raise max_iter" if info.stop_reason in ("max_iter", "max_eval")
                  else "fit with dtype=torch.float64 or raise tolerance_grad")
        log.warning("probe C=%g stopped (%s) with max |gradient| %.2g above tolerance_grad %g; %s",
                    C, info.stop_reason, info.max_abs_gradient, options.tolerance_grad, advice)
    return ProbeResult(data.loss, weight.cpu(), bias.cpu(), mean.to(options.dtype), std.to(options.dtype), C, info)


# ---------------------------------------------------------------------------------------------------------------
# Scoring and regularisation selection
# ---------------------------------------------------------------------------------------------------------------


def eleven_point_average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Return the Pascal VOC 2007 average precision: mean over recall r in 0, 0.1, ..., 1 of the highest precision
    at a recall of at least r."""
    order = np.argsort(-scores, kind="stable")
    hits = labels[order] > 0
    true_positives = np.cumsum(hits)
    precision = true_positives / np.arange(1, len(hits) + 1)
    recall = true_positives / max(int(hits.sum()), 1)
    return float(np.mean([precision[recall >= r].max() if np.any(recall >= r) else 0.0
                          for r in np.linspace(0, 1, 11)]))


def mean_average_precision(scores: torch.Tensor, targets: np.ndarray, eleven_point: bool = False) -> float:
    """Return the mean over classes of the average precision of scores (N, num_classes) against 0/1 targets.

    NaN targets are left out for their class. Classes without a positive photo have no average precision and
    are skipped with a warning. `eleven_point` selects the Pascal VOC 2007 definition, else scikit-learn's.
    """
    scores_array = scores.double().cpu().numpy()
    values, skipped = [], 0
    for k in range(targets.shape[1]):
        known = ~np.isnan(targets[:, k])
        labels = targets[known, k]
        if not np.any(labels > 0):
            skipped += 1
            continue
        if eleven_point:
            values.append(eleven_point_average_precision(scores_array[known, k], labels))
        else:
            values.append(float(average_precision_score(labels, scores_array[known, k])))
    if skipped:
        log.warning("%d of %d classes have no positive photo and are left out of the mean average precision",
                    skipped, targets.shape[1])
    if not values:
        raise ValueError("no class has a positive photo, so mean average precision is undefined")
    return float(np.mean(values))


def score_probe(probe: ProbeResult, data: ProbeData, metric: Metric, options: ProbeOptions | None = None) -> float:
    """Return the probe's `metric` on `data` (higher is better).

    The softmax probe takes "accuracy" or "precision@k" for any k. Accuracy is the fraction of photos with a
    target whose top class is one of their targets, that is precision@1. The binary probe takes "mAP" or
    "mAP-voc07" (see `mean_average_precision`). A callable metric(scores, targets) gets all the logits
    (N, num_classes) as a CPU tensor and `data.targets`.
    """
    options = options or ProbeOptions()
    if callable(metric):
        return float(metric(probe.predict_scores(data.features, options.chunk_rows, options.device), data.targets))
    if metric in ("mAP", "mAP-voc07"):
        if data.loss != BINARY:
            raise ValueError(f"metric {metric} needs binary (photos, classes) targets")
        scores = probe.predict_scores(data.features, options.chunk_rows, options.device)
        return mean_average_precision(scores, data.targets, eleven_point=metric == "mAP-voc07")
    if metric == "accuracy":
        k = 1
    elif metric.startswith("precision@") and metric[len("precision@"):].isdigit():
        k = int(metric[len("precision@"):])
    else:
        raise ValueError(f"unknown metric {metric!r}; use accuracy, precision@k, mAP, mAP-voc07 or a callable")
    if data.loss != SOFTMAX:
        raise ValueError(f"metric {metric} needs TargetRows targets, for the softmax probe")
    value = precision_of_probe(probe, data.features, data.targets, (k,), options)[f"precision@{k}"]
    if value is None:
        raise ValueError(f"none of the {len(data.targets)} photos to score has a target, so {metric} is undefined")
    return value


def precision_of_probe(
    probe: ProbeResult, features: FeatureArray, targets: TargetRows, ks: Sequence[int],
    options: ProbeOptions | None = None,
) -> dict[str, Any]:
    """Return precision@k and the photo counts, as `PrecisionAccumulator.result`, scored chunk by chunk."""
    options = options or ProbeOptions()
    if features.shape[0] != len(targets):
        raise ValueError(f"{features.shape[0]} feature rows but {len(targets)} target rows")
    accumulator = PrecisionAccumulator(ks)
    for start, stop, scores in probe.iter_scores(features, options.chunk_rows, options.device):
        accumulator.add(scores, targets.rows(start, stop))
    return accumulator.result()


@dataclass
class RegularisationSearch:
    """Validation score of every C of the grid and the probe of the best C, fitted on the training photos."""

    best_C: float
    scores: dict[float, float]
    metric: str
    best_probe: ProbeResult


def search_regularisation(
    train: ProbeData, validation: ProbeData, grid: Sequence[float], metric: Metric,
    options: ProbeOptions | None = None,
) -> RegularisationSearch:
    """Fit a probe on `train` for every C of `grid` and score each on `validation` only.

    C values are fitted in increasing order, each warm-started from the previous solution. The best C has the
    highest validation score; among equal scores the smallest C (strongest regularisation) wins.
    """
    if not grid:
        raise ValueError("the grid of C values is empty")
    if train.loss != validation.loss or train.num_classes != validation.num_classes:
        raise ValueError(f"train targets ({train.loss}, {train.num_classes} classes) and validation targets "
                         f"({validation.loss}, {validation.num_classes} classes) do not match")
    metric_name = metric if isinstance(metric, str) else getattr(metric, "__name__", "custom")
    scores: dict[float, float] = {}
    best: ProbeResult | None = None
    init = None
    for C in sorted(set(float(c) for c in grid)):
        probe = fit_probe(train, C, options, init)
        init = (probe.weight, probe.bias)
        scores[C] = score_probe(probe, validation, metric, options)
        log.info("C=%g: validation %s %.4f", C, metric_name, scores[C])
        if best is None or scores[C] > scores[best.C]:
            best = probe
    log.info("selected C=%g (validation %s %.4f)", best.C, metric_name, scores[best.C])
    best.metric, best.validation_scores = metric_name, scores
    return RegularisationSearch(best.C, scores, metric_name, best)


def select_regularisation(
    train: ProbeData, validation: ProbeData, grid: Sequence[float], metric: Metric,
    options: ProbeOptions | None = None,
) -> tuple[float, dict[float, float]]:
    """Return the C of `grid` with the best validation score, and the validation score of every C.

    Every probe is fitted on `train`, and only `validation` is scored (see `search_regularisation`).
    """
    search = search_regularisation(train, validation, grid, metric, options)
    return search.best_C, search.scores


def concatenate(first: ProbeData, second: ProbeData) -> ProbeData:
    """Return the photos of both in one ProbeData; the features are copied into memory."""
    features = np.concatenate([np.asarray(first.features), np.asarray(second.features)])
    if isinstance(first.targets, TargetRows):
        return ProbeData(features, first.targets.concatenate(second.targets))
    return ProbeData(features, np.concatenate([first.targets, second.targets]))


def fit_selected_probe(
    train: ProbeData, validation: ProbeData, grid: Sequence[float], metric: Metric,
    refit_on_train_and_validation: bool = False, options: ProbeOptions | None = None,
) -> ProbeResult:
    """Choose C on the validation photos and return the final probe with that C.

    By default the final probe is the one fitted on the training photos during the search. With
    `refit_on_train_and_validation`, it is refitted on both splits with the chosen C, which uses more data but
    leaves no held-out photos to check it on.
    """
    search = search_regularisation(train, validation, grid, metric, options)
    if not refit_on_train_and_validation:
        return search.best_probe
    probe = fit_probe(concatenate(train, validation), search.best_C, options)
    probe.metric, probe.validation_scores, probe.fitted_on = search.metric, search.scores, "train+validation"
    return probe


# ---------------------------------------------------------------------------------------------------------------
# Word prediction with a probe (the "pretrained features" rows of Table 1)
# ---------------------------------------------------------------------------------------------------------------


def as_target_rows(targets: TargetRows | Sequence[Sequence[int] | np.ndarray], num_classes: int) -> TargetRows:
    if isinstance(targets, TargetRows):
        if targets.num_classes != num_classes:
            raise ValueError(f"targets have {targets.num_classes} classes, expected K={num_classes}")
        return targets
    return TargetRows.from_rows(targets, num_classes)


def frequency_ranking_precision(train: TargetRows, test: TargetRows, ks: Sequence[int]) -> dict[str, Any]:
    """Return precision@k on `test` of always predicting the words most frequent in `train` (ties: lower id)."""
    counts = np.bincount(train.classes, minlength=train.num_classes)
    ranking = np.argsort(-counts, kind="stable")
    # Distinct scores, so that topk cannot break ties differently from the ranking.
    scores = torch.empty(train.num_classes, dtype=torch.float32)
    scores[torch.from_numpy(ranking)] = -torch.arange(train.num_classes, dtype=torch.float32)
    accumulator = PrecisionAccumulator(ks)
    chunk = auto_chunk_rows(0, train.num_classes)
    for start in range(0, len(test), chunk):
        stop = min(start + chunk, len(test))
        accumulator.add(scores.expand(stop - start, -1), test.rows(start, stop))
    return accumulator.result()


def word_prediction_probe(
    features_train: FeatureArray, targets_train: TargetRows | Sequence[Sequence[int]],
    features_val: FeatureArray, targets_val: TargetRows | Sequence[Sequence[int]],
    features_test: FeatureArray, targets_test: TargetRows | Sequence[Sequence[int]],
    K: int, grid: Sequence[float], ks: Sequence[int] = DEFAULT_KS, options: ProbeOptions | None = None,
) -> dict[str, Any]:
    """Fit the soft-target softmax probe for word prediction and return its precision@k on the test photos.

    C is chosen on validation precision@10 (precision@K when K < 10), and the final probe is the one fitted on
    the training photos. Photos without a target are left out of fitting and scoring and counted. The result
    also has the chosen C, the validation score of every C, the fit record and the precision@k of always
    predicting the most frequent training words.
    """
    options = options or ProbeOptions()
    train = ProbeData(features_train, as_target_rows(targets_train, K))
    validation = ProbeData(features_val, as_target_rows(targets_val, K))
    test = as_target_rows(targets_test, K)
    selection_metric = f"precision@{min(10, K)}"

    probe = fit_selected_probe(train, validation, grid, selection_metric, options=options)
    result = precision_of_probe(probe, features_test, test, ks, options)
    result.update({
        "num_classes": K,
        "C": probe.C,
        "selection_metric": selection_metric,
        "validation_scores": {f"{c:g}": score for c, score in probe.validation_scores.items()},
        "train_photos": probe.fit.photos,
        "train_photos_without_targets": probe.fit.photos_without_targets,
        "fit": asdict(probe.fit),
        "frequency_baseline": frequency_ranking_precision(train.targets, test, ks),
    })
    log.info("word-prediction probe, K=%d, C=%g: %s", K, probe.C,
             {f"precision@{k}": result[f"precision@{k}"] for k in sorted(set(ks))})
    return result
