"""The DAG of config/config.yaml under the SLURM profile: the same jobs as without it, with the declared resources."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPER_CONFIG = str(ROOT / "config/config.yaml")


def dry_run(tmp_path, *args):
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "-n",
               *args, "--configfile", PAPER_CONFIG]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def job_counts(output):
    table = output[output.index("Job stats:"):]
    return dict(re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE))


@pytest.mark.slow
def test_slurm_profile_builds_same_dag(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    plain = job_counts(dry_run(tmp_path, "all", "--quiet", "rules"))
    with_profile = job_counts(dry_run(tmp_path, "all", "--profile", str(ROOT / "profiles/slurm"), "--quiet", "rules"))

    assert with_profile == plain
    assert int(plain["total"]) > 2000
    for name in ("table1", "table2", "table3", "table4", "table5", "table6", "table7", "figure1", "figure2_voc",
                 "figure2_word_prediction", "figure3", "figure4", "figure5", "figure6"):
        assert name in plain, name


@pytest.mark.slow
def test_slurm_profile_gives_training_gpus(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    model = "data/models/yfcc100m/alexnet-K1000-multiclass-nall/model.pt"
    output = dry_run(tmp_path, "--profile", str(ROOT / "profiles/slurm"), model)
    train_job = output[output.index("rule train:"):]
    resources = train_job[train_job.index("resources:"):].splitlines()[0]

    assert "gpu=4" in resources
    assert "cpus_per_gpu=8" in resources
    assert "slurm_partition=gpu" in resources
    assert "runtime=4320" in resources
