"""Giving each GPU job of a workflow its own devices.

Snakemake's `--resources gpu=N` only limits how many GPUs the running jobs request in total. It never sets
`CUDA_VISIBLE_DEVICES`, so two 2-GPU jobs on a 4-GPU node would both use devices 0 and 1. A job therefore
reserves devices itself: device i is reserved by holding an exclusive `flock` on `<lock_dir>/gpu-<i>.lock`, which
the kernel releases when the process ends, even after SIGKILL. Under SLURM (or any launcher that sets
`CUDA_VISIBLE_DEVICES`) the job keeps the devices it was given.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

# Seconds between attempts while every device is taken, and between "still waiting" log lines.
RETRY_SECONDS = 5.0
WAIT_LOG_SECONDS = 300.0


def visible_device_count() -> int:
    """Return the number of CUDA devices of this node."""
    import torch

    return torch.cuda.device_count()


def _try_lock(path: Path) -> int | None:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


@contextmanager
def reserve_gpus(count: int, lock_dir: str | os.PathLike, total: int | None = None,
                 timeout: float | None = None) -> Iterator[list[str]]:
    """Reserve `count` GPUs of this node for the block and yield their ids (strings, as CUDA_VISIBLE_DEVICES takes).

    With CUDA_VISIBLE_DEVICES already set, its first `count` ids are yielded and nothing is locked. Otherwise the
    call waits until `count` of the node's `total` devices are free; TimeoutError after `timeout` seconds.
    """
    if count <= 0:
        yield []
        return
    assigned = os.environ.get("CUDA_VISIBLE_DEVICES")
    if assigned:
        ids = [device for device in assigned.split(",") if device]
        if len(ids) < count:
            raise RuntimeError(f"the job needs {count} GPUs but CUDA_VISIBLE_DEVICES={assigned} gives {len(ids)}; "
                               "request as many GPUs from the scheduler as the rule's gpu resource")
        yield ids[:count]
        return

    total = visible_device_count() if total is None else total
    if count > total:
        raise RuntimeError(f"the job needs {count} GPUs but this node has {total}; lower the rule's gpu resource")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    start = last_log = time.monotonic()
    while True:
        locked_devices: dict[int, int] = {}
        for device in range(total):
            descriptor = _try_lock(lock_dir / f"gpu-{device}.lock")
            if descriptor is not None:
                locked_devices[device] = descriptor
                if len(locked_devices) == count:
                    break
        if len(locked_devices) == count:
            break
        for descriptor in locked_devices.values():
            os.close(descriptor)
        now = time.monotonic()
        if timeout is not None and now - start > timeout:
            raise TimeoutError(f"no {count} free GPUs among {total} after {timeout:.0f} s (locks in {lock_dir})")
        if now - last_log > WAIT_LOG_SECONDS:
            log.info("waiting for %d free GPUs among %d (locks in %s)", count, total, lock_dir)
            last_log = now
        time.sleep(RETRY_SECONDS)

    ids = [str(device) for device in locked_devices]
    log.info("reserved GPUs %s (locks in %s)", ",".join(ids), lock_dir)
    try:
        yield ids
    finally:
        for descriptor in locked_devices.values():
            os.close(descriptor)
