"""Word-prediction losses with "stochastic gradient descent over targets" (Joulin et al., ECCV 2016).

Both losses of the paper are here. Every training example has one positive word, drawn by class-uniform sampling
(see `weaksup.sampling`), and every other word is a negative for it, even the photo's other words.

- Multiclass logistic loss: the negative log-probability of the positive word under a softmax over the dictionary.
- One-vs-all logistic loss: the sum of K binary logistic losses. The positive of word k is weighted by 1/N_k and its
  negatives by 1/(N - N_k). N is the number of training photos and N_k the number that have word k.

At K = 100,000 words a full forward-backward pass of the last layer costs four times the rest of AlexNet, so the
paper computes and updates only the rows of the final layer for the set C of words present in the batch (at most
128). For the softmax this is an approximation: the normaliser runs over C only, and the paper shows that the
expected approximate loss never overestimates the true loss.

For one-vs-all the restriction is exact in the following senses. Each binary loss involves only its own row, so for
every word in C the restricted loss has the same gradient as the full loss on the batch. The rows outside C miss only
their negative terms, and the trunk misses the matching terms. Across batches, the negative term of (example i,
word k) is kept when another example of the global batch of B drew k. For each of the K' words that can be drawn,
this happens with probability q = 1 - (1 - 1/K')^(B-1), independently of example i. The restricted loss is
therefore an unbiased estimate of the one-vs-all loss with every negative weight multiplied by q. A binary loss with
positive weight a and negative weight b is minimised at the logit log(a p / (b (1 - p))), where p is the probability
that the word is the positive of the image. A factor q on every b adds the same log(1/q) to the optimal logit of
every word, so at the optimum the ranking of words for a photo, which precision@k measures, is that of the full
loss. Words that cannot be drawn never enter C, so their rows keep their initial values.

The head's parameters stay outside autograd's view of the full matrix. `SparseHead.loss` copies rows C of the
weight and bias into new leaf tensors, so backward produces gradients of size |C| x E, never a dense K x E gradient
(1.6 GB in float32 at K = 100,000 and E = 4,096). `SparseHead.step` averages those gradients across ranks and
applies SGD to those rows only.
"""

from __future__ import annotations

import logging
from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)


def full_softmax_loss(logits: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
    """Return the mean multiclass logistic loss of logits (N, K) against one positive word per row (N,)."""
    return F.cross_entropy(logits, words)


def sampled_softmax_loss(
    embeddings: torch.Tensor,
    words: torch.Tensor,
    classes: torch.Tensor,
    weight_rows: torch.Tensor,
    bias_rows: torch.Tensor,
) -> torch.Tensor:
    """Return the mean multiclass logistic loss with the softmax restricted to `classes`.

    `classes` are sorted word ids (|C|,) that include every entry of `words`. weight_rows (|C|, E) and bias_rows
    (|C|,) are the head's rows for those words, in the same order.
    """
    positions = torch.searchsorted(classes, words)
    logits = embeddings @ weight_rows.T + bias_rows
    return F.cross_entropy(logits, positions)


class ClassWeights(NamedTuple):
    """Per-word weights (K,) of the binary losses of the one-vs-all loss: for a positive and for a negative."""

    positive: torch.Tensor
    negative: torch.Tensor


def one_vs_all_weights(photo_counts: np.ndarray, num_photos: int) -> ClassWeights:
    """Return the class-balancing weights of the one-vs-all loss: H / N_k for positives, H / (N - N_k) for negatives.

    `photo_counts` (K,) contains N_k, the number of training photos with word k, and `num_photos` is N, the number of
    training photos. H is the harmonic mean of N_k over the words with N_k > 0, which are the words that
    class-uniform sampling draws. The positive weight then averages 1 over those words, so an example's expected
    positive weight is 1. Its negatives in C add about |C| H / N, which is small when words are rare. The gradient
    with respect to an example's logits has an L1 norm of at most the example's total weight, about 1 + |C| H / N
    on average, against at most 2 for the multiclass loss. The learning rates of the multiclass loss are therefore a
    reasonable start. A constant factor on all
    weights does not change the minimiser of the paper's loss. Words with N_k = 0 are never positive and get
    positive weight 0. A word in every photo is never a negative in the paper's loss and gets negative weight 0.

    NOTE: over one pass through all photos, these weights give the positives and the negatives of a word the same
    total weight. Class-uniform sampling already gives every word the same expected number of positives, so 1/N_k
    favours rare words a second time. With the restriction to C, the optimal logit of word k becomes
    logit(p_k) + log((N - N_k) / (q N_k)), where p_k is the probability that k is the drawn word of the image and q
    is the factor of the module docstring.
    """
    counts = np.asarray(photo_counts)
    if counts.ndim != 1 or not np.issubdtype(counts.dtype, np.integer):
        raise ValueError(f"photo_counts must be a 1-D integer array, got {counts.dtype} {counts.shape}")
    if num_photos < 1 or counts.min(initial=0) < 0 or counts.max(initial=0) > num_photos:
        raise ValueError(
            f"photo counts must lie in 0..num_photos={num_photos}, got {counts.min(initial=0)}..{counts.max(initial=0)}"
        )
    present = counts > 0
    if not present.any():
        raise ValueError("no word has a training photo, so the one-vs-all weights are undefined")

    counts = counts.astype(np.float64)
    harmonic_mean = present.sum() / np.sum(1.0 / counts[present])
    positive = np.zeros_like(counts)
    positive[present] = harmonic_mean / counts[present]
    negatives = num_photos - counts
    negative = np.zeros_like(counts)
    negative[negatives > 0] = harmonic_mean / negatives[negatives > 0]
    return ClassWeights(torch.from_numpy(positive).float(), torch.from_numpy(negative).float())


def one_vs_all_loss(
    logits: torch.Tensor, positions: torch.Tensor, positive_weights: torch.Tensor, negative_weights: torch.Tensor
) -> torch.Tensor:
    """Return the weighted binary logistic losses of logits (N, M), summed over the M columns, averaged over rows.

    Column `positions[i]` is the positive of row i and every other column is a negative. positive_weights and
    negative_weights (M,) weight each column's loss as a positive and as a negative.
    """
    positive = F.one_hot(positions, logits.shape[1]).bool()
    weights = torch.where(positive, positive_weights, negative_weights)
    total = F.binary_cross_entropy_with_logits(logits, positive.to(logits.dtype), weight=weights, reduction="sum")
    return total / logits.shape[0]


def full_one_vs_all_loss(logits: torch.Tensor, words: torch.Tensor, class_weights: ClassWeights) -> torch.Tensor:
    """Return the one-vs-all loss of logits (N, K) over the whole dictionary, one positive word per row (N,)."""
    return one_vs_all_loss(logits, words, class_weights.positive, class_weights.negative)


def sampled_one_vs_all_loss(
    embeddings: torch.Tensor,
    words: torch.Tensor,
    classes: torch.Tensor,
    weight_rows: torch.Tensor,
    bias_rows: torch.Tensor,
    class_weights: ClassWeights,
) -> torch.Tensor:
    """Return the one-vs-all loss over `classes` only; the arguments are those of `sampled_softmax_loss`.

    `class_weights` contains the weights of the whole dictionary (K,), on the device of `classes`.
    """
    positions = torch.searchsorted(classes, words)
    logits = embeddings @ weight_rows.T + bias_rows
    positive_weights = class_weights.positive.index_select(0, classes)
    negative_weights = class_weights.negative.index_select(0, classes)
    return one_vs_all_loss(logits, positions, positive_weights, negative_weights)


def batch_classes(words: torch.Tensor) -> torch.Tensor:
    """Return the sorted unique words of the batch, or under torch.distributed their union over all ranks.

    Every rank must then use the same class set, so that the averaged row gradients refer to the same rows.
    All ranks must pass tensors of the same length, because `all_gather` requires it.
    """
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        gathered = [torch.empty_like(words) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, words.contiguous())
        words = torch.cat(gathered)
    return torch.unique(words, sorted=True)


class SparseHead:
    """Sparse SGD for a K-way linear layer under a loss restricted to the words of the batch.

    Call `loss(embeddings, words)`, then `backward()` on the result, then `step(lr)`. The layer's weight and bias
    must not be in any other optimizer or in a DistributedDataParallel module. Subclasses define the loss in
    `restricted_loss`.

    NOTE: momentum and weight decay are lazy. Rows of words absent from a batch keep their momentum buffer and get
    no weight decay in that step, whereas dense SGD would decay them and keep moving them along their momentum.
    The update of a row that is present equals `torch.optim.SGD` (dampening 0, no Nesterov) on that row.
    """

    def __init__(self, linear: nn.Linear, momentum: float = 0.0, weight_decay: float = 0.0):
        if linear.bias is None:
            raise ValueError(f"{type(self).__name__} needs a final linear layer with a bias")
        self.weight = linear.weight
        self.bias = linear.bias
        self.momentum = momentum
        self.weight_decay = weight_decay
        # Buffers start at zero, so the first update of a row equals torch.optim.SGD's first step (buffer = gradient).
        self.momentum_weight = torch.zeros_like(self.weight) if momentum else None
        self.momentum_bias = torch.zeros_like(self.bias) if momentum else None
        self._pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def restricted_loss(
        self,
        embeddings: torch.Tensor,
        words: torch.Tensor,
        classes: torch.Tensor,
        weight_rows: torch.Tensor,
        bias_rows: torch.Tensor,
    ) -> torch.Tensor:
        """Return the batch loss over `classes`, with the arguments of `sampled_softmax_loss`."""
        raise NotImplementedError

    def loss(self, embeddings: torch.Tensor, words: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """Return the loss of the batch over `classes` and remember its rows for the next `step`.

        `classes` defaults to `batch_classes(words)`. Heads that share a batch, such as a GoogLeNet's main and
        auxiliary heads, can pass the same tensor so that the ranks exchange their words once.
        """
        if classes is None:
            classes = batch_classes(words)
        weight_rows = self.weight.detach().index_select(0, classes).requires_grad_()
        bias_rows = self.bias.detach().index_select(0, classes).requires_grad_()
        self._pending = (classes, weight_rows, bias_rows)
        return self.restricted_loss(embeddings, words, classes, weight_rows, bias_rows)

    @torch.no_grad()
    def step(self, lr: float) -> None:
        """Apply one SGD step to the rows of the last `loss` call, leaving all other rows bit-identical."""
        if self._pending is None:
            raise RuntimeError(f"{type(self).__name__}.step called without a preceding loss()")
        classes, weight_rows, bias_rows = self._pending
        self._pending = None
        if weight_rows.grad is None or bias_rows.grad is None:
            raise RuntimeError(f"{type(self).__name__}.step called before backward() on the loss")

        # One all-reduce for weight and bias: average over ranks, as DistributedDataParallel does for the trunk.
        grads = torch.cat([weight_rows.grad, bias_rows.grad.unsqueeze(1)], dim=1)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(grads)
            grads /= dist.get_world_size()

        settings = (lr, self.momentum, self.weight_decay)
        _sgd_rows(self.weight, self.momentum_weight, classes, weight_rows, grads[:, :-1], *settings)
        _sgd_rows(self.bias, self.momentum_bias, classes, bias_rows, grads[:, -1], *settings)

    def state_dict(self) -> dict[str, torch.Tensor | float | None]:
        return {
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
            "momentum_weight": self.momentum_weight,
            "momentum_bias": self.momentum_bias,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore the momentum buffers. The weights themselves are restored with the model's state_dict."""
        for name in ("momentum_weight", "momentum_bias"):
            current, saved = getattr(self, name), state[name]
            if (current is None) != (saved is None):
                raise ValueError(f"head state has {name}={'none' if saved is None else 'a buffer'}, "
                                 f"but this head was built with momentum={self.momentum}")
            if current is not None:
                if saved.shape != current.shape:
                    raise ValueError(
                        f"head state {name} has shape {tuple(saved.shape)}, expected {tuple(current.shape)}"
                    )
                current.copy_(saved)



class SampledSoftmaxHead(SparseHead):
    """Sparse SGD for the final linear layer under the sampled multiclass logistic loss."""

    def restricted_loss(
        self,
        embeddings: torch.Tensor,
        words: torch.Tensor,
        classes: torch.Tensor,
        weight_rows: torch.Tensor,
        bias_rows: torch.Tensor,
    ) -> torch.Tensor:
        return sampled_softmax_loss(embeddings, words, classes, weight_rows, bias_rows)


class OneVsAllHead(SparseHead):
    """Sparse SGD for the final linear layer under the one-vs-all logistic loss restricted to the batch's words."""

    def __init__(
        self, linear: nn.Linear, class_weights: ClassWeights, momentum: float = 0.0, weight_decay: float = 0.0
    ):
        super().__init__(linear, momentum, weight_decay)
        for name, weights in class_weights._asdict().items():
            if weights.shape != (linear.out_features,):
                raise ValueError(
                    f"{name} class weights have shape {tuple(weights.shape)}, expected ({linear.out_features},)"
                )
        device = linear.weight.device
        self.class_weights = ClassWeights(class_weights.positive.to(device), class_weights.negative.to(device))

    def restricted_loss(
        self,
        embeddings: torch.Tensor,
        words: torch.Tensor,
        classes: torch.Tensor,
        weight_rows: torch.Tensor,
        bias_rows: torch.Tensor,
    ) -> torch.Tensor:
        return sampled_one_vs_all_loss(embeddings, words, classes, weight_rows, bias_rows, self.class_weights)


# Loss names of `weaksup.train --loss`.
LOSSES = ("multiclass", "one_vs_all")


def make_sparse_head(
    loss: str,
    linear: nn.Linear,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    class_weights: ClassWeights | None = None,
) -> SparseHead:
    """Return the sparse head of `linear` for a loss of `LOSSES`; one_vs_all needs `class_weights`."""
    if loss == "multiclass":
        return SampledSoftmaxHead(linear, momentum, weight_decay)
    if loss == "one_vs_all":
        if class_weights is None:
            raise ValueError("the one_vs_all loss needs class weights; compute them with one_vs_all_weights")
        return OneVsAllHead(linear, class_weights, momentum, weight_decay)
    raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")

def _sgd_rows(
    parameter: torch.Tensor,
    buffer: torch.Tensor | None,
    classes: torch.Tensor,
    rows: torch.Tensor,
    grad: torch.Tensor,
    lr: float,
    momentum: float,
    weight_decay: float,
) -> None:
    """Update `parameter[classes]` (whose values are `rows`) by SGD with momentum and weight decay."""
    direction = grad + weight_decay * rows if weight_decay else grad
    if buffer is not None:
        direction = momentum * buffer.index_select(0, classes) + direction
        buffer.index_copy_(0, classes, direction)
    parameter.index_copy_(0, classes, rows - lr * direction)


def target_mask(
    rows: Sequence[Sequence[int] | np.ndarray], num_classes: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Return a dense boolean (N, K) matrix with True at each photo's target words."""
    lengths = [len(row) for row in rows]
    mask = torch.zeros(len(rows), num_classes, dtype=torch.bool)
    if sum(lengths):
        photo_index = torch.repeat_interleave(torch.arange(len(rows)), torch.tensor(lengths))
        word_index = torch.from_numpy(np.concatenate([np.asarray(row, dtype=np.int64) for row in rows]))
        mask[photo_index, word_index] = True
    return mask.to(device)


def multilabel_softmax_error(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return, per photo, the full-softmax negative log-probability averaged over its target words (N,).

    Rows without a target give NaN, so callers skip and count those photos first.
    """
    log_probs = F.log_softmax(logits.float(), dim=1)
    # torch.where, not a product, because log-probabilities of -inf times a zero mask would give NaN.
    picked = torch.where(mask, log_probs, torch.zeros_like(log_probs))
    return -picked.sum(dim=1) / mask.sum(dim=1)
