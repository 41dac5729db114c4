"""Penn Treebank tokenization, as nltk's `TreebankWordTokenizer` does it, fast on cleaned captions.

Joulin et al. 2016 tokenize with the Penn Treebank tokenizer. nltk's implementation (3.10.4 was read) runs about
twenty regular-expression substitutions per string, which is slow for 100M captions. On text that contains only
letters (`str.isalpha`) and whitespace, which is what `clean_text` returns, only one group of its rules can fire:

- Every rule for punctuation, quotes, brackets and dashes needs a character that is not a letter.
- Its CONTRACTIONS2 rules split six whole words: cannot, gimme, gonna, gotta, lemme, wanna ("can not",
  "gim me", ...). They use the standard `re` module with `(?i)` and `\\b`. Every letter is a word character
  there, so `\\b` matches only at the ends of a whitespace-separated word, and a word next to a non-ASCII letter
  ("écannot") is not split. "wanna" must be followed by whitespace, which is always true because nltk pads the
  text with spaces. The rules with an apostrophe ("d'ye", "more'n", "'tis", "'twas") cannot match.
- `(?i)` in `re` matches each letter in either case, and "i" also matches U+0130 "İ" and U+0131 "ı".

So the fast path is `str.split()`, then a table look-up that splits every spelling of those six words. Text with
any other character goes to nltk itself, so `tokenize(s) == TreebankWordTokenizer().tokenize(s)` for every
string, and only the speed differs.
"""

from __future__ import annotations

import functools
import itertools

# Each contraction and the length of its first token, from nltk's MacIntyreContractions.CONTRACTIONS2.
_CONTRACTIONS = {"cannot": 3, "gimme": 3, "gonna": 3, "gotta": 3, "lemme": 3, "wanna": 3}

# Characters besides the two ASCII cases that `re` with IGNORECASE matches to a lower-case letter (simple case
# folding plus re's extra equivalences). A test tries every code point that `re` matches to these letters.
_IGNORECASE_EXTRA = {"i": "İı"}


def _spellings(word: str) -> list[str]:
    """Return every string that `re.fullmatch("(?i)" + word, string)` accepts."""
    choices = [{letter, letter.upper(), *_IGNORECASE_EXTRA.get(letter, "")} for letter in word]
    return ["".join(letters) for letters in itertools.product(*choices)]


def _split_table() -> dict[str, tuple[str, str]]:
    table = {}
    for contraction, head in _CONTRACTIONS.items():
        for spelling in _spellings(contraction):
            table[spelling] = (spelling[:head], spelling[head:])
    return table


_SPLITS = _split_table()
_SPLIT_WORDS = frozenset(_SPLITS)


@functools.cache
def _nltk_tokenizer():
    # Imported on first use, because the fast path never needs nltk and importing it takes about 0.2 s.
    from nltk.tokenize import TreebankWordTokenizer

    return TreebankWordTokenizer()


def tokenize(text: str) -> list[str]:
    """Split `text` into Penn Treebank tokens, exactly as `TreebankWordTokenizer().tokenize(text)`.

    Text of letters and whitespace only (every `clean_text` output) takes the fast path. Any other text is handed
    to nltk, which returns the same tokens about 30 times slower (measured by benchmarks/tokenizer.py on 100,000
    generated captions, Python 3.11 on an Intel Xeon).
    """
    words = text.split()

    # One C-level pass over the letters checks the precondition of the fast path.
    if words and not "".join(words).isalpha():
        return _nltk_tokenizer().tokenize(text)

    if _SPLIT_WORDS.isdisjoint(words):
        return words

    # Contractions are rare, so splicing the few hits into the list beats rebuilding it word by word.
    for contraction in _SPLIT_WORDS.intersection(words):
        parts = _SPLITS[contraction]
        start = 0
        for _ in range(words.count(contraction)):
            position = words.index(contraction, start)
            words[position : position + 1] = parts
            start = position + len(parts)
    return words
