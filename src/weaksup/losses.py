"""Multiclass logistic loss with "stochastic gradient descent over targets" (Joulin et al., ECCV 2016).

The multiclass logistic loss of an example is the negative log-probability of its sampled word under a softmax
over the dictionary. At K = 100,000 words a full forward-backward pass of the last layer costs four times the rest
of AlexNet, so the paper computes and updates only the rows of the final layer for the words present in the batch
(at most 128). For a batch with class set C, the loss uses logits over C only. The paper shows that the expected
value of this approximate loss never overestimates the true loss.

The head's parameters stay outside autograd's view of the full matrix. `SampledSoftmaxHead.loss` copies rows C of
the weight and bias into new leaf tensors, so backward produces gradients of size |C| x E, never a dense K x E
gradient (1.6 GB in float32 at K = 100,000 and E = 4,096). `SampledSoftmaxHead.step` averages those gradients
across ranks and applies SGD to those rows only.
"""

from __future__ import annotations

import logging
from typing import Sequence

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


class SampledSoftmaxHead:
    """Sparse SGD for the final linear layer under the sampled multiclass logistic loss.

    Call `loss(embeddings, words)`, then `backward()` on the result, then `step(lr)`. The head's weight and bias
    must not be in any other optimizer or in a DistributedDataParallel module.

    NOTE: momentum and weight decay are lazy. Rows of words absent from a batch keep their momentum buffer and get
    no weight decay in that step, whereas dense SGD would decay them and keep moving them along their momentum.
    The update of a row that is present equals `torch.optim.SGD` (dampening 0, no Nesterov) on that row.
    """

    def __init__(self, linear: nn.Linear, momentum: float = 0.0, weight_decay: float = 0.0):
        if linear.bias is None:
            raise ValueError("SampledSoftmaxHead needs a final linear layer with a bias")
        self.weight = linear.weight
        self.bias = linear.bias
        self.momentum = momentum
        self.weight_decay = weight_decay
        # Buffers start at zero, so the first update of a row equals torch.optim.SGD's first step (buffer = gradient).
        self.momentum_weight = torch.zeros_like(self.weight) if momentum else None
        self.momentum_bias = torch.zeros_like(self.bias) if momentum else None
        self._pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def loss(self, embeddings: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
        """Return the sampled softmax loss of the batch and remember its rows for the next `step`."""
        classes = batch_classes(words)
        weight_rows = self.weight.detach().index_select(0, classes).requires_grad_()
        bias_rows = self.bias.detach().index_select(0, classes).requires_grad_()
        self._pending = (classes, weight_rows, bias_rows)
        return sampled_softmax_loss(embeddings, words, classes, weight_rows, bias_rows)

    @torch.no_grad()
    def step(self, lr: float) -> None:
        """Apply one SGD step to the rows of the last `loss` call, leaving all other rows bit-identical."""
        if self._pending is None:
            raise RuntimeError("SampledSoftmaxHead.step called without a preceding loss()")
        classes, weight_rows, bias_rows = self._pending
        self._pending = None
        if weight_rows.grad is None or bias_rows.grad is None:
            raise RuntimeError("SampledSoftmaxHead.step called before backward() on the loss")

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
