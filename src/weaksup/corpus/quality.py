"""The bad-input threshold of corpus building: stop when too large a fraction of the images is skipped.

Corpus builders skip an image that is missing, failed to download, cannot be decoded or is too large, and count
it under its reason. A few such images are normal in a web crawl. A large fraction means broken input (a wrong
folder, a truncated download, a changed URL scheme), and training on what is left would silently shrink the
data. The configuration key `corpus.max_skipped_fraction` sets the largest fraction that is accepted.
"""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

log = logging.getLogger(__name__)

CONFIG_KEY = "corpus.max_skipped_fraction"

# Skip reasons that lose a photo's image, as the corpus builders name them. Other skips (duplicate keys, invalid
# photo ids) and repairs (invalid UTF-8, missing captions) are not counted against the threshold.
IMAGE_SKIP_REASONS = ("missing_image", "download_failed", "corrupt_image", "image_too_large")

# Example locations per reason that the error message names.
EXAMPLES_SHOWN = 3


def image_skip_counts(stats: Mapping[str, object], reasons: Sequence[str] = IMAGE_SKIP_REASONS) -> dict[str, int]:
    """Return the non-zero counts of `reasons` in a builder's outcome counts."""
    counts = {}
    for reason in reasons:
        count = stats.get(reason, 0)
        if count:
            counts[reason] = int(count)
    return counts


def check_skipped_fraction(
    source_name: str,
    written: int,
    skipped_counts: Mapping[str, int],
    max_fraction: float,
    examples: Mapping[str, Sequence[str]],
) -> float:
    """Raise ValueError when skipped / (written + skipped) exceeds `max_fraction`, or else log it and return it.

    `skipped_counts` maps each skip reason to its count, and all of them are summed. `examples` maps a reason to
    the first locations skipped for it (file paths or `TAR:KEY`). With nothing written or skipped the fraction is 0.
    """
    if not 0 <= max_fraction <= 1:
        raise ValueError(f"{CONFIG_KEY} is {max_fraction!r}, expected a fraction from 0 to 1")
    negative = {reason: count for reason, count in skipped_counts.items() if count < 0}
    if written < 0 or negative:
        raise ValueError(f"{source_name}: negative counts, written {written}, skipped {negative}")

    skipped = sum(skipped_counts.values())
    total = written + skipped
    fraction = skipped / total if total else 0.0
    reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(skipped_counts.items()) if count) or "none"

    if fraction > max_fraction:
        raise ValueError(
            f"{source_name}: {skipped} of {total} images were skipped ({reasons}), a fraction of {fraction:.4f}, "
            f"more than {CONFIG_KEY} = {max_fraction:g}. First skipped: {_first_examples(skipped_counts, examples)}. "
            f"Check these files and the input paths, or raise {CONFIG_KEY} to accept the loss"
        )
    log.info("%s: %d of %d images skipped (%s), a fraction of %.4f, within %s = %g",
             source_name, skipped, total, reasons, fraction, CONFIG_KEY, max_fraction)
    return fraction


def _first_examples(skipped_counts: Mapping[str, int], examples: Mapping[str, Sequence[str]]) -> str:
    parts = []
    for reason in sorted(skipped_counts):
        locations = list(examples.get(reason, []))[:EXAMPLES_SHOWN]
        if skipped_counts[reason] and locations:
            parts.append(f"{reason}: {', '.join(locations)}")
    return "; ".join(parts) or "no locations recorded"
