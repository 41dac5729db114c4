"""Caption cleaning before tokenization.

Joulin et al. 2016 (Section 3) remove numbers and punctuation (the `#` of hashtags too), accents and special
characters, and lower-case the text. Here that becomes: Unicode NFKD, lower-case, delete combining marks, NFC
(which only recomposes Hangul at that point), then every character that is not a letter (`str.isalpha`) becomes a
space. Letters of every script are kept, because
Flickr captions are multilingual.

The output contains only letters and single spaces, with no leading or trailing space, and
`clean_text(clean_text(s)) == clean_text(s)`. The tokenizer's fast path relies on the first property.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

_ASCII_NON_LETTER_RUNS = re.compile(r"[^a-z]+")


def _code_point_ranges(predicate) -> str:
    """Return a regex character-class body with every code point for which `predicate(char)` is true."""
    ranges: list[str] = []
    start = None
    for code_point in range(sys.maxunicode + 2):
        inside = code_point <= sys.maxunicode and predicate(chr(code_point))
        if inside and start is None:
            start = code_point
        elif not inside and start is not None:
            ranges.append(f"\\U{start:08x}-\\U{code_point - 1:08x}")
            start = None
    return "".join(ranges)


@functools.cache
def _combining_marks() -> re.Pattern:
    # All marks (Mn, Mc and Me), not only Latin accents. Deleting a mark keeps the letters around it in one word,
    # whereas a space in its place would cut words of Indic scripts into pieces.
    return re.compile(f"[{_code_point_ranges(lambda char: unicodedata.category(char).startswith('M'))}]+")


@functools.cache
def _non_letter_runs() -> re.Pattern:
    # Built from str.isalpha itself, so it follows the running Python's Unicode database exactly. The shortcut
    # [\W\d_] would keep non-decimal numerals such as U+0BF0 TAMIL NUMBER TEN.
    return re.compile(f"[^{_code_point_ranges(str.isalpha)}]+")


def clean_text(text: str) -> str:
    """Return `text` lower-cased, without accents, numbers, punctuation or symbols, words separated by one space.

    NFKD maps compatibility characters to plain ones first ("ﬁ" -> "fi", "²" -> "2", full-width "Ａ" -> "a").
    NOTE: only accents that Unicode decomposes are removed. "ø", "ł" and "ß" have no decomposition and stay.
    Kana lose their voicing marks ("が" -> "か") and Indic scripts lose vowel signs, because both are combining
    marks too.
    """
    if text.isascii():
        return _ASCII_NON_LETTER_RUNS.sub(" ", text.lower()).strip()

    # Lower-casing after NFKD catches capitals that NFKD itself produces (U+210C BLACK-LETTER H -> "H").
    # The second NFKD decomposes what lower-casing composes ("İ".lower() is "i" + U+0307).
    text = unicodedata.normalize("NFKD", text).lower()
    text = unicodedata.normalize("NFKD", text)
    text = _combining_marks().sub("", text)

    # NFKD splits Hangul syllables into conjoining jamo, and NFC joins them again. Without marks, nothing else
    # composes (checked over all code points by the tests).
    text = unicodedata.normalize("NFC", text)
    return _non_letter_runs().sub(" ", text).strip()
