"""Validation of the workflow configuration against its JSON schema, with messages that name key, value and fix."""

from __future__ import annotations

import os
from typing import Any, Iterable

import jsonschema
import yaml


class ConfigError(ValueError):
    """An invalid configuration; the message lists every problem, one per line."""


def load_schema(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _key_path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif text:
            text += f".{part}"
        else:
            text = str(part)
    return text or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    key = _key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = "at the top level" if key == "(top level)" else f"in '{key}'"
        return f"unknown key {', '.join(repr(u) for u in unknown)} {where}; allowed keys: {', '.join(allowed)}"
    if error.validator == "required":
        return f"'{key}' is missing a required key: {error.message}"
    if error.validator == "enum":
        return f"'{key}' has the invalid value {error.instance!r}; allowed values: {error.validator_value}"
    if error.validator == "type":
        return f"'{key}' has the invalid value {error.instance!r}: expected type {error.validator_value}"
    return f"'{key}' has the invalid value {error.instance!r}: {error.message}"


def _cross_checks(config: dict) -> list[str]:
    """Constraints between keys that a JSON schema cannot state."""
    problems = []
    corpus, training = config["corpus"], config["training"]
    if training["crop_size"] > corpus["image_size"]:
        problems.append(
            f"'training.crop_size' has the invalid value {training['crop_size']}: it must not exceed "
            f"'corpus.image_size' ({corpus['image_size']}), since the crop is taken from the stored image"
        )
    source = corpus["source"]
    if source not in corpus:
        problems.append(f"'corpus.source' is {source!r} but the section 'corpus.{source}' with its settings is missing")
    problems += _model_reference_checks(config)
    problems += _transfer_checks(config)
    problems += _embedding_checks(config)
    if source == "yfcc100m" and source in corpus:
        from weaksup.corpus.yfcc import check_url_template

        try:
            check_url_template(corpus["yfcc100m"]["image_url_template"])
        except ValueError as error:
            problems.append(f"'corpus.yfcc100m.image_url_template' is invalid: {error}")
    text = config["text"]
    largest_k = max(config["evaluation"]["precision_at"])
    if largest_k > min(text["dictionary_sizes"]):
        problems.append(
            f"'evaluation.precision_at' has the invalid value {config['evaluation']['precision_at']}: precision@{largest_k} "
            f"needs at least {largest_k} dictionary words, but 'text.dictionary_sizes' has K = {min(text['dictionary_sizes'])}"
        )
    if text["validation_fraction"] + text["test_fraction"] >= 1:
        problems.append("'text.validation_fraction' + 'text.test_fraction' must be below 1, or no photo is left to train")
    return problems


def trained_models(config: dict) -> set[tuple[str, int, str]]:
    """Return the (arch, K, loss) of every model trained on the full training split."""
    training = config["training"]
    models = {(arch, k, "multiclass") for arch in training["architectures"] for k in config["text"]["dictionary_sizes"]}
    return models | {(run["arch"], run["K"], run["loss"]) for run in training["extra_runs"]}


def _model_reference_checks(config: dict) -> list[str]:
    """Check that every architecture, dictionary size and model that a section names exists."""
    problems = []
    training, sizes = config["training"], config["text"]["dictionary_sizes"]
    used = set(training["architectures"]) | {run["arch"] for run in training["extra_runs"]}
    for arch in sorted(used - set(training["models"])):
        problems.append(f"architecture {arch!r} is used but 'training.models.{arch}' with its options is missing")

    references = [(f"training.extra_runs[{i}]", run) for i, run in enumerate(training["extra_runs"])]
    if training["size_sweep"]:
        references.append(("training.size_sweep", training["size_sweep"]))
    for key, ref in references:
        if ref["K"] not in sizes:
            problems.append(f"'{key}.K' has the invalid value {ref['K']}: it must be one of text.dictionary_sizes {sizes}")

    models = trained_models(config)
    for name in ("figure3", "figure4"):
        ref = config["figures"][name]
        if (ref["arch"], ref["K"], ref["loss"]) not in models:
            problems.append(
                f"'figures.{name}' names the model {ref['arch']} K={ref['K']} {ref['loss']}, which is not trained; "
                "use an architecture of training.architectures with a K of text.dictionary_sizes and the multiclass "
                "loss, or a model of training.extra_runs"
            )

    baseline = config["baseline"]
    if baseline["source"] == "imagenet":
        missing = sorted(set(training["architectures"]) - set(baseline.get("imagenet_weights", {})))
        if missing:
            problems.append(f"'baseline.imagenet_weights' has no entry for {', '.join(missing)}")
    elif config["corpus"]["source"] != "demo":
        problems.append("'baseline.source' is 'clean_labels', which only the demo corpus has; use 'imagenet'")
    elif "clean_labels" not in baseline:
        problems.append("'baseline.source' is 'clean_labels' but the section 'baseline.clean_labels' is missing")
    return problems


# Transfer datasets of the demo corpus (`weaksup.transfer.demo_tasks`); the others are released datasets.
DEMO_TRANSFER_DATASETS = ("new_glyphs", "glyph_icons", "corpus_glyphs", "corpus_glyphs_multilabel")
MULTILABEL_TRANSFER_DATASETS = ("voc2007", "corpus_glyphs_multilabel")


def _transfer_checks(config: dict) -> list[str]:
    """Check that the transfer section names trained networks and configured datasets of the right kind."""
    transfer = config.get("transfer")
    if not transfer:
        return []

    problems = []
    for arch in config["training"]["architectures"]:
        if (arch, transfer["K"], transfer["loss"]) not in trained_models(config):
            problems.append(f"'transfer.K' and 'transfer.loss' name the model {arch} K={transfer['K']} "
                            f"{transfer['loss']}, which is not trained; use a K of text.dictionary_sizes with the "
                            "multiclass loss, or a model of training.extra_runs")

    datasets = transfer["datasets"]
    table2 = transfer["table2_dataset"]
    if table2 not in datasets or table2 not in MULTILABEL_TRANSFER_DATASETS:
        problems.append(f"'transfer.table2_dataset' has the invalid value {table2!r}: it must be a multi-label "
                        f"dataset ({', '.join(MULTILABEL_TRANSFER_DATASETS)}) listed in transfer.datasets")
    for name in transfer["figure5_datasets"]:
        if name not in datasets or name in MULTILABEL_TRANSFER_DATASETS:
            problems.append(f"'transfer.figure5_datasets' has the invalid value {name!r}: it must be a multiclass "
                            f"dataset listed in transfer.datasets ({', '.join(sorted(datasets))})")

    demo_corpus = config["corpus"]["source"] == "demo"
    for name, settings in sorted(datasets.items()):
        key = f"transfer.datasets.{name}"
        if name in DEMO_TRANSFER_DATASETS:
            if name.startswith("corpus_") and not demo_corpus:
                problems.append(f"'{key}' is built from the demo corpus's clean labels; the corpus source is "
                                f"{config['corpus']['source']!r}, so remove it or use the demo corpus")
        elif not settings.get("path") and not settings.get("downloads"):
            problems.append(f"'{key}' has neither 'path' (the extracted dataset) nor 'downloads'; set one of them")
        if ("train_per_class" in settings) != ("test_per_class" in settings):
            problems.append(f"'{key}' sets only one of train_per_class and test_per_class; set both or neither")
    return problems


def _embedding_checks(config: dict) -> list[str]:
    """Check that the embeddings section names a trained network and usable benchmark sources."""
    embeddings = config.get("embeddings")
    if not embeddings:
        return []
    problems = []
    ref = embeddings["figure6"]
    if (ref["arch"], ref["K"], ref["loss"]) not in trained_models(config):
        problems.append(f"'embeddings.figure6' names the model {ref['arch']} K={ref['K']} {ref['loss']}, which is "
                        "not trained; use an architecture of training.architectures with a K of "
                        "text.dictionary_sizes and the multiclass loss, or a model of training.extra_runs")
    benchmarks = {"embeddings.analogies": embeddings["analogies"],
                  "embeddings.bilingual_dictionary": embeddings["bilingual_dictionary"],
                  **{f"embeddings.similarity.{name}": spec for name, spec in embeddings["similarity"].items()}}
    for key, spec in benchmarks.items():
        sources = [name for name in ("gensim", "url", "path", "demo") if spec.get(name)]
        if len(sources) != 1:
            problems.append(f"'{key}' must name exactly one source (gensim, url, path or demo), got {sources or 'none'}")
        elif sources == ["demo"] and (key.startswith("embeddings.similarity") or config["corpus"]["source"] != "demo"):
            problems.append(f"'{key}' has demo: true, which only the analogies and the bilingual dictionary of the "
                            "demo corpus can use")
    return problems


def validate_config(config: dict, schema: dict) -> None:
    """Raise ConfigError listing every schema violation and cross-key problem of `config`."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(error) for error in errors]
    if not problems:
        problems = _cross_checks(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
