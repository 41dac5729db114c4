"""Tests of the learning-rate rule: halve on a rising validation error, after a minimum number of epochs."""

from __future__ import annotations

import math

import pytest

from weaksup.schedule import HalvingSchedule


def run_epochs(schedule: HalvingSchedule, errors: list[float | None]) -> list[float]:
    return [schedule.step_epoch(error) for error in errors]


def test_no_halving_before_min_epochs():
    schedule = HalvingSchedule(lr=0.1, min_epochs_per_rate=3)
    assert run_epochs(schedule, [1.0, 2.0]) == [0.1, 0.1]
    assert schedule.epochs_at_rate == 2


def test_halving_once_min_epochs_reached():
    schedule = HalvingSchedule(lr=0.1, min_epochs_per_rate=3)
    assert run_epochs(schedule, [1.0, 2.0, 3.0]) == [0.1, 0.1, 0.05]
    assert schedule.epochs_at_rate == 0


def test_each_rate_kept_min_epochs():
    schedule = HalvingSchedule(lr=0.1, min_epochs_per_rate=2)
    # The error rises every epoch: the rate halves every second epoch.
    assert run_epochs(schedule, [1.0, 2.0, 3.0, 4.0, 5.0]) == [0.1, 0.05, 0.05, 0.025, 0.025]


def test_no_halving_when_error_falls():
    schedule = HalvingSchedule(lr=0.1, min_epochs_per_rate=1)
    assert run_epochs(schedule, [3.0, 2.0, 2.0, 1.0]) == [0.1, 0.1, 0.1, 0.1]


def test_comparison_with_previous_epoch_not_best():
    schedule = HalvingSchedule(lr=0.1, min_epochs_per_rate=1)
    # 1.5 is worse than the best (1.0) but better than the previous epoch (2.0).
    assert run_epochs(schedule, [1.0, 2.0, 1.5]) == [0.1, 0.05, 0.05]


def test_missing_validation_never_halves():
    schedule = HalvingSchedule(lr=0.1, min_epochs_per_rate=1)
    assert run_epochs(schedule, [None, None, None]) == [0.1, 0.1, 0.1]


def test_finished_below_min_lr():
    schedule = HalvingSchedule(lr=0.1, min_epochs_per_rate=1, min_lr=0.03)
    run_epochs(schedule, [1.0, 2.0])
    assert schedule.lr == 0.05
    assert not schedule.finished
    schedule.step_epoch(3.0)
    assert schedule.lr == 0.025
    assert schedule.finished
    assert "below min_lr" in schedule.stop_reason


def test_finished_at_max_epochs():
    schedule = HalvingSchedule(lr=0.1, max_epochs=2)
    schedule.step_epoch(1.0)
    assert not schedule.finished
    schedule.step_epoch(0.5)
    assert schedule.finished
    assert schedule.stop_reason == "max_epochs 2 reached"


def test_zero_max_epochs_finished_at_start():
    assert HalvingSchedule(max_epochs=0).finished


def test_rejects_non_finite_error():
    schedule = HalvingSchedule()
    with pytest.raises(FloatingPointError, match="validation error is nan after epoch 1"):
        schedule.step_epoch(math.nan)


def test_state_round_trip_keeps_new_budget():
    schedule = HalvingSchedule(lr=0.1, min_epochs_per_rate=1, max_epochs=2)
    run_epochs(schedule, [1.0, 2.0])
    restored = HalvingSchedule(lr=0.1, min_epochs_per_rate=1, max_epochs=5)
    restored.load_state_dict(schedule.state_dict())
    assert restored.lr == 0.05
    assert restored.epoch == 2
    assert restored.previous_error == 2.0
    assert restored.max_epochs == 5
    assert not restored.finished
