"""The English-French dictionary and the word languages of the demo corpus, from its glyph names.

The demo corpus (`weaksup.corpus.demo`) names every glyph in each of its languages, so its glyph catalogue gives
an English-French dictionary for the translation evaluation (Tables 6 and 7) without any download. A name counts
only as the single dictionary word it can become: it is cleaned with `clean_text` and split with `tokenize`, as
`weaksup.text.pipeline` does with every caption, and must give exactly one token.

The catalogue depends on the corpus languages (a glyph enters only with a name in every one of them) and on
`max_glyphs`, so both must be the demo corpus's settings.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from typing import Sequence

from weaksup.atomic import atomic_open
from weaksup.corpus.demo import LANGUAGE_WORDS, load_glyph_catalog
from weaksup.text.clean import clean_text
from weaksup.text.tokenize import tokenize

log = logging.getLogger(__name__)

# Language of a word that occurs in the names or filler words of more than one language.
SEVERAL_LANGUAGES = "several"


def caption_words(text: str) -> list[str]:
    """Return the tokens that the text pipeline makes of `text`."""
    return tokenize(clean_text(text))


def demo_bilingual_pairs(languages: Sequence[str], max_glyphs: int | None) -> list[tuple[str, str]]:
    """Return the distinct (English, French) glyph-name pairs whose names are one word each and differ.

    Pairs are in catalogue (code-point) order. An English word may appear with several French words, one pair
    each, as in MUSE's dictionaries. Raises ValueError unless `languages` contains "en" and "fr".
    """
    absent = [language for language in ("en", "fr") if language not in languages]
    if absent:
        raise ValueError(f"the demo corpus languages {list(languages)} lack {absent}; an English-French dictionary "
                         "needs both")

    skipped: Counter[str] = Counter()
    pairs: dict[tuple[str, str], None] = {}
    catalogue = load_glyph_catalog(languages, max_glyphs)
    for glyph in catalogue:
        english, french = caption_words(glyph.names["en"]), caption_words(glyph.names["fr"])
        if len(english) != 1:
            skipped["English name not one word"] += 1
        elif len(french) != 1:
            skipped["French name not one word"] += 1
        elif english == french:
            skipped["same word in both languages"] += 1
        elif (english[0], french[0]) in pairs:
            skipped["repeated pair"] += 1
        else:
            pairs[english[0], french[0]] = None

    log.info("demo English-French dictionary: %d pairs from %d glyphs; skipped %s", len(pairs), len(catalogue),
             ", ".join(f"{count} {reason}" for reason, count in skipped.most_common()) or "none")
    return list(pairs)


def write_bilingual_dictionary(path: str | os.PathLike, pairs: Sequence[tuple[str, str]]) -> None:
    """Write word pairs in MUSE's format, one `english french` line per pair, atomically.

    Raises ValueError for a word that is empty or contains whitespace, because the line could not be read back.
    """
    for number, pair in enumerate(pairs):
        for word in pair:
            if not word or len(word.split()) != 1 or word != word.strip():
                raise ValueError(f"pair {number} {pair!r}: word {word!r} is not one word without whitespace")

    with atomic_open(path, "w", encoding="utf-8", newline="\n") as handle:
        for english, french in pairs:
            handle.write(f"{english} {french}\n")
    log.info("wrote %d word pairs to %s", len(pairs), path)


def _glyph_name_words(name: str) -> list[str]:
    """Return the words of a glyph name, also in its joined hashtag form ("#pommerouge" -> "pommerouge")."""
    words = caption_words(name)
    # The demo corpus writes some tags as "#" + the name without spaces, which cleans to one joined word.
    joined = caption_words("".join(name.split()))
    return words + [word for word in joined if word not in words]


def demo_word_languages(languages: Sequence[str], max_glyphs: int | None) -> dict[str, str]:
    """Return the language of every word of the demo corpus's glyph names and filler words, after cleaning.

    Filler words include each language's word for "and". A word of several languages maps to
    `SEVERAL_LANGUAGES`. Camera file names and years, the remaining text of the demo corpus, have no language
    and are not listed.
    """
    word_languages: defaultdict[str, set[str]] = defaultdict(set)
    for glyph in load_glyph_catalog(languages, max_glyphs):
        for language in languages:
            for word in _glyph_name_words(glyph.names[language]):
                word_languages[word].add(language)

    for language in languages:
        filler_text = " ".join((LANGUAGE_WORDS[language].conjunction, *LANGUAGE_WORDS[language].fillers))
        for word in caption_words(filler_text):
            word_languages[word].add(language)

    result = {word: next(iter(found)) if len(found) == 1 else SEVERAL_LANGUAGES
              for word, found in sorted(word_languages.items())}
    counts = Counter(result.values())
    log.info("demo word languages: %d words; %s", len(result),
             ", ".join(f"{language} {count}" for language, count in sorted(counts.items())))
    return result
