"""Figure 3: for each chosen dictionary word, the test photo that the model scores highest for it.

All photos of the split are scored in one pass over the corpus, and only a running maximum per word is kept.
Memory is one batch of logits (batch x K), whatever the number of test photos (1M in Joulin et al., ECCV 2016).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from weaksup.data import open_image_store
from weaksup.evaluate import split_number
from weaksup.features import iter_photo_batches, load_eval_model
from weaksup.figures.common import drawable, new_figure, save_figure, style
from weaksup.figures.photos import draw_photo, grid_shape, read_photo_texts
from weaksup.targets import load_targets
from weaksup.text.dictionary import load_dictionary

log = logging.getLogger(__name__)

SCORES = ("logit", "probability")


@dataclass
class TopPhotos:
    """Per requested word: position (in the scored photo list) of its best photo, that photo's score for the word,
    and the word's rank among all K words in that photo's scores (1: the photo's highest-scoring word)."""

    positions: np.ndarray
    scores: np.ndarray
    ranks_in_photo: np.ndarray


def select_words(
    words: Sequence[str], dictionary: list[str], dictionary_path: str | os.PathLike, strict: bool
) -> tuple[list[str], list[int], list[str]]:
    """Return (words found, their class ids, words skipped) in request order, without repeats.

    A word not in the dictionary raises ValueError when `strict`, and is otherwise skipped with a warning, because
    configured words are written for one corpus and another corpus's dictionary may lack a few of them.
    """
    if isinstance(words, str):
        raise ValueError(f"words must be a list of words, got the string {words!r}")
    class_of_word = {word: index for index, word in enumerate(dictionary)}
    found: list[str] = []
    skipped: list[str] = []
    for word in dict.fromkeys(words):
        if word in class_of_word:
            found.append(word)
            continue
        message = f"word {word!r} is not in dictionary {dictionary_path} ({len(dictionary)} words)"
        if strict:
            raise ValueError(f"{message}; choose words from that file")
        log.warning("%s; skipped", message)
        skipped.append(word)

    if len(found) + len(skipped) < len(words):
        log.warning("%d repeated words were drawn once", len(words) - len(found) - len(skipped))
    if not found:
        raise ValueError(f"none of the words {list(words)} is in dictionary {dictionary_path}; "
                         "choose words from that file")
    return found, [class_of_word[word] for word in found], skipped


def check_dictionary(
    meta: dict[str, Any],
    num_classes: int,
    dictionary: list[str],
    model_path: str | os.PathLike,
    dictionary_path: str | os.PathLike,
) -> None:
    """Raise ValueError unless the dictionary file is the one the model was trained with."""
    if len(dictionary) != num_classes:
        raise ValueError(f"model {model_path} predicts {num_classes} words but dictionary {dictionary_path} has "
                         f"{len(dictionary)}; use the model's own dictionary")
    trained_words = meta.get("words")
    if trained_words is not None and list(trained_words) != dictionary:
        first = next(i for i, (a, b) in enumerate(zip(trained_words, dictionary)) if a != b)
        raise ValueError(
            f"model {model_path} was trained with another dictionary than {dictionary_path}: class {first} is "
            f"{trained_words[first]!r} in the model and {dictionary[first]!r} in the file; retrain the model or "
            "pass its own dictionary"
        )


@torch.no_grad()
def find_top_photos(
    model: nn.Module, batches: Iterable[tuple[np.ndarray, torch.Tensor]], word_ids: Sequence[int], score: str
) -> TopPhotos:
    """Find, for each word, the photo with the highest score over all batches.

    Ties go to the photo that comes first in the batches. `probability` is the softmax over the dictionary, the
    multiclass model's prediction; it ranks photos differently from the logit because each photo has its own
    normaliser. For a one-vs-all model, the sigmoid ranks photos as the logit does.
    """
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; expected one of {', '.join(SCORES)}")
    columns = torch.as_tensor(list(word_ids), dtype=torch.long)
    best_scores = torch.full((len(columns),), -torch.inf, dtype=torch.float64)
    best_positions = np.full(len(columns), -1, dtype=np.int64)
    best_ranks = np.zeros(len(columns), dtype=np.int64)

    for positions, images in batches:
        scores = model(images).float()
        if score == "probability":
            scores = scores.softmax(dim=1)
        # max over dim 0 returns the first maximal row, so ties inside a batch also go to the earlier photo.
        batch_best, batch_rows = scores[:, columns.to(scores.device)].max(dim=0)
        best_rows = scores[batch_rows]
        batch_ranks = 1 + (best_rows > batch_best[:, None]).sum(dim=1)

        batch_best, batch_rows, batch_ranks = batch_best.double().cpu(), batch_rows.cpu(), batch_ranks.cpu()
        better = batch_best > best_scores
        best_scores[better] = batch_best[better]
        best_positions[better.numpy()] = positions[batch_rows[better].numpy()]
        best_ranks[better.numpy()] = batch_ranks[better].numpy()

    return TopPhotos(best_positions, best_scores.numpy(), best_ranks)


def figure3_top_photos(
    model_path: str | os.PathLike,
    corpus_dir: str | os.PathLike,
    targets_path: str | os.PathLike,
    dictionary_path: str | os.PathLike,
    words: Sequence[str],
    out_stem: str | os.PathLike,
    split: str = "test",
    score: str = "logit",
    strict: bool = False,
    batch_size: int = 256,
    workers: int = 4,
    device: str = "auto",
) -> dict[str, Any]:
    """Draw, for each word, the photo of `split` with the highest score for it, titled with the word.

    Writes `<out_stem>.png` and `<out_stem>.pdf`. Words missing from the dictionary are skipped and returned
    (or raise ValueError with `strict`). Returns per drawn word its photo, score, the word's rank among the K
    words in that photo's scores, and its dictionary rank (1: the most frequent dictionary word in training).
    """
    dictionary = load_dictionary(dictionary_path)
    model, meta, torch_device = load_eval_model(model_path, device)
    check_dictionary(meta, model.spec.num_classes, dictionary, model_path, dictionary_path)
    targets = load_targets(targets_path)
    if targets.num_classes != len(dictionary):
        raise ValueError(f"targets {targets_path} have {targets.num_classes} classes but dictionary "
                         f"{dictionary_path} has {len(dictionary)} words; use the targets of that dictionary")
    found, word_ids, skipped = select_words(words, dictionary, dictionary_path, strict)

    store = open_image_store(corpus_dir, expected_photos=targets.num_photos)
    photos = targets.photos_in_split(split_number(split))
    if len(photos) == 0:
        raise ValueError(f"the {split} split of {targets_path} has no photos")
    batches = iter_photo_batches(store, photos, meta["crop_size"], batch_size, workers, torch_device,
                                 desc=f"score {split} photos")
    top = find_top_photos(model, batches, word_ids, score)
    best_photos = photos[top.positions]
    texts = read_photo_texts(store, best_photos)

    rows, columns = grid_shape(len(found), max_columns=4)
    with style():
        figure = new_figure(2.6 * columns, 2.9 * rows + 0.6)
        grid = figure.add_gridspec(rows, columns, left=0.02, right=0.98, top=1 - 0.6 / (2.9 * rows + 0.6),
                                   bottom=0.03, hspace=0.25, wspace=0.06)
        for index, (word, photo, text, value) in enumerate(zip(found, best_photos, texts, top.scores)):
            axes = figure.add_subplot(grid[divmod(index, columns)])
            draw_photo(axes, store, int(photo))
            axes.set_title(drawable(word)[0], fontsize=13, fontweight="bold", parse_math=False)
            axes.set_xlabel(f"photo {text.photo_id}, {score} {value:.3g}", fontsize=7.5, color="0.35",
                            parse_math=False)
        figure.suptitle(f"{split.capitalize()} photos with the highest {score} for each word "
                        f"({len(photos):,} photos scored)", parse_math=False)
        save_figure(figure, out_stem)

    drawn = {
        "words": found, "skipped_words": skipped, "photos": [text.photo_id for text in texts],
        "photo_numbers": [int(photo) for photo in best_photos], "scores": [float(v) for v in top.scores],
        "ranks_in_photo": [int(rank) for rank in top.ranks_in_photo],
        "dictionary_ranks": [word_id + 1 for word_id in word_ids], "photos_scored": int(len(photos)),
    }
    log.info("figure 3: %s", drawn)
    return drawn
