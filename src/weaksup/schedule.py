"""The learning-rate rule of Joulin et al. (ECCV 2016), as a small state machine.

Training starts at learning rate 0.1. After every epoch (one million images in the paper) the error on a held-out
validation set is computed. When it has increased since the previous epoch, the learning rate is halved, but each
rate is used for at least 10 epochs. Training stops when the rate falls below 1e-6. `max_epochs` adds a budget
that the paper does not have, so that a small demo ends in minutes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)


@dataclass
class HalvingSchedule:
    """Learning rate that halves when the validation error rises, after at least `min_epochs_per_rate` epochs.

    The error is compared with the previous epoch's error, not the best one so far. An epoch whose error is None
    (no validation set) never halves the rate.
    """

    lr: float = 0.1
    min_epochs_per_rate: int = 10
    min_lr: float = 1e-6
    max_epochs: int | None = None
    epoch: int = 0
    epochs_at_rate: int = 0
    previous_error: float | None = None

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.min_lr < 0 or self.min_epochs_per_rate < 1:
            raise ValueError(
                f"invalid schedule: lr={self.lr} must be positive, min_lr={self.min_lr} non-negative, "
                f"min_epochs_per_rate={self.min_epochs_per_rate} at least 1"
            )
        if self.max_epochs is not None and self.max_epochs < 0:
            raise ValueError(f"max_epochs must be non-negative or None, got {self.max_epochs}")

    def step_epoch(self, validation_error: float | None) -> float:
        """Record the end of an epoch and its validation error, and return the learning rate for the next epoch."""
        if validation_error is not None and not math.isfinite(validation_error):
            raise FloatingPointError(f"validation error is {validation_error} after epoch {self.epoch + 1}")
        self.epoch += 1
        self.epochs_at_rate += 1

        rose = (
            validation_error is not None
            and self.previous_error is not None
            and validation_error > self.previous_error
        )
        if rose and self.epochs_at_rate >= self.min_epochs_per_rate:
            log.info(
                "validation error rose from %.6g to %.6g after %d epochs at lr %g: halving the learning rate",
                self.previous_error, validation_error, self.epochs_at_rate, self.lr,
            )
            self.lr /= 2
            self.epochs_at_rate = 0
        self.previous_error = validation_error
        return self.lr

    @property
    def finished(self) -> bool:
        return self.stop_reason is not None

    @property
    def stop_reason(self) -> str | None:
        """Return why training should stop, or None while it should go on."""
        if self.lr < self.min_lr:
            return f"learning rate {self.lr:g} fell below min_lr {self.min_lr:g}"
        if self.max_epochs is not None and self.epoch >= self.max_epochs:
            return f"max_epochs {self.max_epochs} reached"
        return None

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        """Restore the progress fields. The rule's settings (min_epochs_per_rate, min_lr, max_epochs) stay as built.

        Keeping the settings lets a finished or long run be continued with a larger `max_epochs`.
        """
        self.lr = float(state["lr"])
        self.epoch = int(state["epoch"])
        self.epochs_at_rate = int(state["epochs_at_rate"])
        previous = state["previous_error"]
        self.previous_error = None if previous is None else float(previous)
