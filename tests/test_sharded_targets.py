import random

import numpy as np
import pytest

from weaksup.corpus.shards import PhotoText, ShardWriter, shard_stem
from weaksup.targets import TEST, TRAIN, VALIDATION, load_targets
from weaksup.text import targets_build
from weaksup.text.dictionary import build_dictionary, merge_counts
from weaksup.text.pipeline import tokenize_shard
from weaksup.text.sharded_targets import (
    ShardTargets,
    build_shard_targets,
    load_shard_targets,
    merge_shard_targets,
)
from weaksup.text.targets_build import build_targets

# The shard writer does not decode images, so any bytes stand in for a JPEG.
FAKE_JPEG = b"\xff\xd8\xff\xd9"

VOCABULARY = (
    "sea sky sun beach tree dog cat bird flower city street night car bridge river lake snow mountain forest "
    "church tower garden park rain cloud boat train road house window door light shadow people child girl boy "
    "wedding party concert music food coffee wine market festival museum statue castle island desert canyon "
    "waterfall sunset sunrise autumn winter spring summer"
).split()
# One empty shard and one shard of a single photo without text, so that the merge meets both edge cases.
SHARD_SIZES = (70, 0, 45, 1, 90)
DROP_MOST_FREQUENT = 5
DICTIONARY_SIZES = (8, 30)
VALIDATION_FRACTION, TEST_FRACTION, SPLIT_SEED = 0.2, 0.2, 3


def _words(rng: random.Random, count: int) -> list[str]:
    # Zipf-like weights give frequent, mid and rare words, like real captions.
    weights = [1 / (rank + 1) for rank in range(len(VOCABULARY))]
    return rng.choices(VOCABULARY, weights=weights, k=count)


def _photo(rng: random.Random, photo_id: str) -> PhotoText:
    title = " ".join(word.capitalize() if rng.random() < 0.3 else word for word in _words(rng, rng.randint(0, 4)))
    description = " ".join(f"#{word}!" for word in _words(rng, rng.randint(0, 3)))
    return PhotoText(photo_id, title, description, _words(rng, rng.randint(0, 3)))


def _corpus_photos() -> list[list[PhotoText]]:
    rng = random.Random(11)
    shards = [[_photo(rng, f"p{shard}x{row}") for row in range(size)] for shard, size in enumerate(SHARD_SIZES)]
    shards[3] = [PhotoText("p3x0", "2016", "!!!", [])]
    return shards


def _write_shard(directory, index, photos):
    tar_path = directory / f"{shard_stem(index)}.tar"
    with ShardWriter(tar_path) as writer:
        for photo in photos:
            writer.write(photo, FAKE_JPEG)
    return tar_path.with_suffix(".tsv")


def _tokenize(shard_tsv):
    tokens, counts = shard_tsv.with_suffix(".tokens.tsv"), shard_tsv.with_suffix(".counts.tsv")
    tokenize_shard(shard_tsv, tokens, counts, VALIDATION_FRACTION, TEST_FRACTION, SPLIT_SEED)
    return tokens, counts


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Tokenize every shard, merge the counts and build the dictionaries, as the workflow does."""
    directory = tmp_path_factory.mktemp("corpus")
    tokens_paths, counts_paths = [], []
    for index, photos in enumerate(_corpus_photos()):
        tokens, counts = _tokenize(_write_shard(directory, index, photos))
        tokens_paths.append(tokens)
        counts_paths.append(counts)

    merged_counts = directory / "word_counts.tsv"
    merge_counts(counts_paths, merged_counts)
    dictionaries = {}
    for size in DICTIONARY_SIZES:
        dictionaries[size] = directory / f"dictionary_K{size}.tsv"
        build_dictionary(merged_counts, DROP_MOST_FREQUENT, size, dictionaries[size])
    return {"tokens": tokens_paths, "counts": merged_counts, "dictionaries": dictionaries}


@pytest.mark.parametrize("size", DICTIONARY_SIZES)
def test_sharded_targets_match_unsharded(corpus, tmp_path, monkeypatch, size):
    dictionary = corpus["dictionaries"][size]
    unsharded_path, merged_path = tmp_path / "unsharded.npz", tmp_path / "merged.npz"
    build_targets(corpus["tokens"], dictionary, unsharded_path)
    part_paths = [tmp_path / f"part-{index}.npz" for index in range(len(SHARD_SIZES))]
    for tokens, part_path in zip(corpus["tokens"], part_paths):
        build_shard_targets(tokens, dictionary, part_path)

    # The merge must not read tokens: its memory is bounded by the output, not by the corpus text.
    def fail_read_tokens(path):
        raise AssertionError(f"the merge read tokens from {path}")

    monkeypatch.setattr(targets_build, "read_tokens", fail_read_tokens)
    merge_shard_targets(part_paths, merged_path, dictionary_path=dictionary)

    unsharded, merged = load_targets(unsharded_path), load_targets(merged_path)
    assert merged.num_classes == unsharded.num_classes == size
    for name in ("indptr", "words", "split", "word_photos_indptr", "word_photos"):
        assert getattr(merged, name).dtype == getattr(unsharded, name).dtype, name
        assert np.array_equal(getattr(merged, name), getattr(unsharded, name)), name
    with np.load(unsharded_path) as unsharded_file, np.load(merged_path) as merged_file:
        assert sorted(merged_file.files) == sorted(unsharded_file.files)

    # The corpus must exercise the merge: every split, photos without targets, words spread over several shards.
    assert merged.num_photos == sum(SHARD_SIZES)
    assert {TRAIN, VALIDATION, TEST} <= set(merged.split.tolist())
    assert np.count_nonzero(merged.target_counts() == 0) > 0
    shard_starts = np.cumsum((0, *SHARD_SIZES))
    shards_per_word = [
        len(set(np.searchsorted(shard_starts, merged.photos_of_word(k), side="right"))) for k in range(size)
    ]
    assert max(shards_per_word) >= 3


def test_merged_counts_dictionary_matches_whole(corpus, tmp_path):
    whole_shard = _write_shard(tmp_path, 0, [photo for photos in _corpus_photos() for photo in photos])
    _, whole_counts = _tokenize(whole_shard)

    assert corpus["counts"].read_text(encoding="utf-8") == whole_counts.read_text(encoding="utf-8")
    for size in DICTIONARY_SIZES:
        whole_dictionary = tmp_path / f"whole_dictionary_K{size}.tsv"
        build_dictionary(whole_counts, DROP_MOST_FREQUENT, size, whole_dictionary)
        sharded_text = corpus["dictionaries"][size].read_text(encoding="utf-8")
        assert sharded_text == whole_dictionary.read_text(encoding="utf-8"), size


def test_shard_targets_local_numbering(corpus, tmp_path):
    part = build_shard_targets(corpus["tokens"][2], corpus["dictionaries"][30], tmp_path / "part.npz")
    saved = load_shard_targets(tmp_path / "part.npz")

    assert part.num_photos == SHARD_SIZES[2]
    assert saved.num_photos == SHARD_SIZES[2]
    assert saved.word_photos.max() < SHARD_SIZES[2]
    assert np.array_equal(saved.words, part.words)
    assert saved.dictionary_sha256 == part.dictionary_sha256


def test_merge_rejects_mixed_dictionaries(corpus, tmp_path):
    small, large = tmp_path / "small.npz", tmp_path / "large.npz"
    build_shard_targets(corpus["tokens"][0], corpus["dictionaries"][8], small)
    build_shard_targets(corpus["tokens"][2], corpus["dictionaries"][30], large)
    out = tmp_path / "merged.npz"

    with pytest.raises(ValueError, match=r"large.npz was built from another dictionary than .*small.npz"):
        merge_shard_targets([small, large], out)
    with pytest.raises(ValueError, match=r"small.npz was built from another dictionary than .*dictionary_K30.tsv"):
        merge_shard_targets([small], out, dictionary_path=corpus["dictionaries"][30])
    assert not out.exists()


def test_merge_rejects_no_shards(tmp_path):
    with pytest.raises(ValueError, match="no shard targets files to merge"):
        merge_shard_targets([], tmp_path / "merged.npz")


def test_load_rejects_targets_file(corpus, tmp_path):
    full = tmp_path / "targets.npz"
    build_targets(corpus["tokens"][:1], corpus["dictionaries"][8], full)
    with pytest.raises(ValueError, match=r"targets.npz: missing arrays \['dictionary_sha256'\]"):
        load_shard_targets(full)


def test_load_rejects_invalid_part(tmp_path):
    path = tmp_path / "part.npz"
    part = ShardTargets(
        indptr=np.array([0, 1, 2], dtype=np.int64),
        words=np.array([0, 3], dtype=np.int32),
        split=np.array([TRAIN, TRAIN], dtype=np.int8),
        word_photos_indptr=np.array([0, 1, 1, 1], dtype=np.int64),
        word_photos=np.array([0], dtype=np.int64),
        num_classes=3,
        dictionary_sha256="0" * 64,
    )
    part.save(path)
    with pytest.raises(ValueError, match=r"part.npz: invalid shard targets: class ids outside \[0, 3\)"):
        load_shard_targets(path)

    part.words = np.array([0, 1], dtype=np.int32)
    part.indptr = np.array([0, 1], dtype=np.int64)
    part.save(path)
    with pytest.raises(ValueError, match="indptr has 2 entries for 2 photos, expected 3"):
        load_shard_targets(path)
