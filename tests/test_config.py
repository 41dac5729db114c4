import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from weaksup.config import ConfigError, load_schema, validate_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(ROOT / "workflow/schemas/config.schema.yaml")


def load(name):
    return yaml.safe_load((ROOT / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "demo.yaml"])
def test_shipped_configs_are_valid(name):
    validate_config(load(name), SCHEMA)


def test_unknown_key_is_named():
    config = load("demo.yaml")
    config["text"]["dictionary_size"] = 10
    with pytest.raises(ConfigError) as error:
        validate_config(config, SCHEMA)
    assert "'dictionary_size'" in str(error.value)
    assert "in 'text'" in str(error.value)
    assert "dictionary_sizes" in str(error.value)


def test_invalid_value_names_key_and_value():
    config = load("demo.yaml")
    config["training"]["batch_size"] = -3
    with pytest.raises(ConfigError) as error:
        validate_config(config, SCHEMA)
    assert "'training.batch_size'" in str(error.value)
    assert "-3" in str(error.value)


def test_invalid_enum_lists_allowed_values():
    config = load("demo.yaml")
    config["corpus"]["source"] = "flickr"
    with pytest.raises(ConfigError) as error:
        validate_config(config, SCHEMA)
    assert "'corpus.source'" in str(error.value)
    assert "'flickr'" in str(error.value)
    assert "yfcc100m" in str(error.value)


def test_crop_larger_than_image_is_rejected():
    config = copy.deepcopy(load("demo.yaml"))
    config["training"]["crop_size"] = config["corpus"]["image_size"] + 1
    with pytest.raises(ConfigError, match="training.crop_size"):
        validate_config(config, SCHEMA)


def run_snakemake(*args, cwd=ROOT):
    command = [sys.executable, "-m", "snakemake", "--directory", str(cwd), "-s", str(ROOT / "Snakefile"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_paper_dag_builds_without_data(tmp_path):
    result = run_snakemake("-n", "all", "--quiet", "rules", "--configfile", str(ROOT / "config/config.yaml"),
                           cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for rule in ("download_yfcc_metadata", "train", "download_transfer_archive", "transfer_probe", "table2",
                 "table3", "figure5", "figure2_voc", "train_word2vec", "evaluate_embedding", "table4", "table7",
                 "figure6"):
        assert f"\n{rule} " in result.stdout, rule


def test_invalid_config_stops_at_start(tmp_path):
    config = load("demo.yaml")
    config["training"]["lr"] = "fast"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = run_snakemake("-n", "--configfile", str(bad), cwd=tmp_path)
    assert result.returncode != 0
    assert "'training.lr'" in result.stdout + result.stderr
    assert "'fast'" in result.stdout + result.stderr


def test_bad_url_template_is_named():
    config = load("config.yaml")
    config["corpus"]["yfcc100m"]["image_url_template"] = "https://example.invalid/{hash[0:3]}/{hash}.jpg"
    with pytest.raises(ConfigError, match="corpus.yfcc100m.image_url_template"):
        validate_config(config, SCHEMA)


def test_precision_at_beyond_smallest_k_is_rejected():
    config = load("demo.yaml")
    config["text"]["dictionary_sizes"] = [5, 8]
    with pytest.raises(ConfigError, match="precision@10 needs at least 10 dictionary words"):
        validate_config(config, SCHEMA)


def test_transfer_and_embedding_references_checked():
    config = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    config["transfer"]["K"] = 7
    config["transfer"]["table2_dataset"] = "new_glyphs"
    config["embeddings"]["similarity"]["men"] = {"demo": True}
    with pytest.raises(ConfigError) as error:
        validate_config(config, SCHEMA)
    message = str(error.value)
    assert "'transfer.K' and 'transfer.loss' name the model alexnet K=7" in message
    assert "'transfer.table2_dataset' has the invalid value 'new_glyphs'" in message
    assert "'embeddings.similarity.men' has demo: true" in message


def test_paper_transfer_dataset_needs_source():
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    del config["transfer"]["datasets"]["voc2007"]["downloads"]
    with pytest.raises(ConfigError, match="'transfer.datasets.voc2007' has neither 'path'"):
        validate_config(config, SCHEMA)
