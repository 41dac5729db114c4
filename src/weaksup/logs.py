"""Logging set-up shared by the workflow scripts and the command-line entry points."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s | %(levelname)s | %(name)s | %(message)s"


def setup_logging(log_file: str | None = None, level: int = logging.INFO) -> None:
    """Send log records to stderr and, when given, to `log_file` (appended, so a resumed job keeps its history)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, mode="a", encoding="utf-8"))
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers, force=True)


def redirect_to_log(log_file: str) -> None:
    """Send stderr (log records and tqdm progress bars) of a Snakemake script job into the rule's log file."""
    sys.stderr = open(log_file, "a", encoding="utf-8", buffering=1)
    setup_logging()
