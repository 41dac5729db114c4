"""The GPU check script, run on the CPU at a tiny size: it builds its corpus, trains, resumes and reports."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_cpu_path(tmp_path):
    out = tmp_path / "gpu_check.json"
    command = [sys.executable, str(ROOT / "benchmarks/gpu_check.py"), "--gpus", "0", "--steps", "9", "--photos", "400",
               "--image-size", "72", "--crop", "64", "--width", "0.1", "--batch-size", "16", "--workers", "0",
               "--workdir", str(tmp_path / "work"), "--tolerance", "1.0", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    report = json.loads(out.read_text())
    assert report["passed"] is True
    assert report["epochs_before_stop"] == 1
    assert report["epochs_after_resume"] == 2
    assert len(report["images_per_second"]) == 3
