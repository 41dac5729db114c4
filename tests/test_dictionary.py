import numpy as np
import pytest

from weaksup.targets import TEST, TRAIN, VALIDATION, load_targets
from weaksup.text.dictionary import build_dictionary, load_dictionary, merge_counts, read_counts, write_counts
from weaksup.text.targets_build import build_targets

# Ties on 10 and on 5; ranking is by count descending, then word ascending.
COUNTS = {"the": 10, "of": 10, "and": 8, "cat": 5, "beach": 5, "apple": 5, "dog": 3, "egg": 1}


@pytest.fixture
def counts_path(tmp_path):
    path = tmp_path / "counts.tsv"
    write_counts(COUNTS, path)
    return path


def test_write_counts_order(counts_path):
    lines = counts_path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "word\tphotos"
    assert lines[1:4] == ["of\t10", "the\t10", "and\t8"]
    assert lines[4:7] == ["apple\t5", "beach\t5", "cat\t5"]


def test_dictionary_drops_then_takes(counts_path, tmp_path):
    out = tmp_path / "dictionary.tsv"
    words = build_dictionary(counts_path, drop_most_frequent=2, size=3, out_path=out)
    assert words == ["and", "apple", "beach"]
    assert load_dictionary(out) == words
    assert out.read_text(encoding="utf-8").splitlines() == ["word\tphotos", "and\t8", "apple\t5", "beach\t5"]


def test_dictionary_without_drop(counts_path, tmp_path):
    words = build_dictionary(counts_path, drop_most_frequent=0, size=2, out_path=tmp_path / "d.tsv")
    assert words == ["of", "the"]


def test_dictionary_uses_all_words(counts_path, tmp_path):
    words = build_dictionary(counts_path, drop_most_frequent=5, size=3, out_path=tmp_path / "d.tsv")
    assert words == ["cat", "dog", "egg"]


def test_dictionary_too_small_vocabulary(counts_path, tmp_path):
    out = tmp_path / "d.tsv"
    with pytest.raises(ValueError) as error:
        build_dictionary(counts_path, drop_most_frequent=5, size=4, out_path=out)
    message = str(error.value)
    assert "K=4" in message
    assert "N=5" in message
    assert "8 distinct training words" in message
    assert "lower K in text.dictionary_sizes or N in text.drop_most_frequent" in message
    assert not out.exists()


def test_dictionary_invalid_arguments(counts_path, tmp_path):
    with pytest.raises(ValueError, match="K must be >= 1"):
        build_dictionary(counts_path, drop_most_frequent=0, size=0, out_path=tmp_path / "d.tsv")
    with pytest.raises(ValueError, match="must be >= 0"):
        build_dictionary(counts_path, drop_most_frequent=-1, size=1, out_path=tmp_path / "d.tsv")


def test_merge_counts_sums(tmp_path):
    first, second, merged = tmp_path / "a.tsv", tmp_path / "b.tsv", tmp_path / "merged.tsv"
    write_counts({"sea": 2, "sky": 1}, first)
    write_counts({"sky": 4, "tree": 2}, second)
    assert merge_counts([first, second], merged) == 3
    assert list(read_counts(merged)) == [("sky", 5), ("sea", 2), ("tree", 2)]


def test_merge_counts_repeated_word(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text("word\tphotos\nsea\t2\nsea\t1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'sea' appears on more than one line"):
        merge_counts([path], tmp_path / "merged.tsv")


def test_read_counts_bad_rows(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("word\tphotos\nsea\t2\nsky\tmany\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.tsv:3: count of 'sky' is 'many'"):
        list(read_counts(path))
    path.write_text("word\tcount\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header"):
        list(read_counts(path))


def test_load_dictionary_repeated_word(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("word\tphotos\nsea\t2\nsea\t2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="more than one line"):
        load_dictionary(path)


def _write_tokens(path, rows):
    path.write_text("photo_id\tsplit\ttokens\n" + "".join(f"{p}\t{s}\t{t}\n" for p, s, t in rows), encoding="utf-8")


def test_build_targets_csr(tmp_path):
    dictionary = tmp_path / "dictionary.tsv"
    dictionary.write_text("word\tphotos\nsea\t3\nsky\t2\ncat\t1\n", encoding="utf-8")
    first, second = tmp_path / "tokens-0.tsv", tmp_path / "tokens-1.tsv"
    _write_tokens(first, [("p0", "train", "sky the sea sky"), ("p1", "test", "sea"), ("p2", "train", "")])
    _write_tokens(second, [("p3", "validation", "dog"), ("p4", "train", "cat sea")])
    out = tmp_path / "targets.npz"

    targets = build_targets([first, second], dictionary, out)

    # Class ids: sea 0, sky 1, cat 2. Photos 0-4 in file order.
    assert targets.num_classes == 3
    assert targets.indptr.tolist() == [0, 2, 3, 3, 3, 5]
    assert targets.words.tolist() == [0, 1, 0, 0, 2]
    assert targets.split.tolist() == [TRAIN, TEST, TRAIN, VALIDATION, TRAIN]
    # Only training photos enter the word -> photos index: photo 1 (test) is absent from "sea".
    assert targets.photos_of_word(0).tolist() == [0, 4]
    assert targets.photos_of_word(1).tolist() == [0]
    assert targets.photos_of_word(2).tolist() == [4]

    saved = load_targets(out)
    assert np.array_equal(saved.indptr, targets.indptr)
    assert np.array_equal(saved.words, targets.words)
    assert np.array_equal(saved.word_photos, targets.word_photos)
    assert saved.num_classes == 3
