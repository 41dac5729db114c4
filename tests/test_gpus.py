"""GPU reservation for concurrent jobs, and the torchrun command on one node and across SLURM nodes."""

import pytest

from weaksup.gpus import reserve_gpus
from weaksup.launch import torchrun_command


def test_jobs_get_distinct_devices(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with reserve_gpus(2, tmp_path, total=4) as first:
        with reserve_gpus(2, tmp_path, total=4) as second:
            assert first == ["0", "1"]
            assert second == ["2", "3"]


def test_devices_freed_after_job(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with reserve_gpus(3, tmp_path, total=3):
        pass
    with reserve_gpus(3, tmp_path, total=3) as again:
        assert again == ["0", "1", "2"]


def test_busy_node_times_out(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr("weaksup.gpus.RETRY_SECONDS", 0.01)
    with reserve_gpus(1, tmp_path, total=1):
        with pytest.raises(TimeoutError, match="no 1 free GPUs"):
            with reserve_gpus(1, tmp_path, total=1, timeout=0.05):
                pass


def test_scheduler_assignment_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    with reserve_gpus(2, tmp_path, total=8) as devices:
        assert devices == ["5", "7"]
    assert not list(tmp_path.iterdir())


def test_too_many_gpus_rejected(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(RuntimeError, match="this node has 2"):
        with reserve_gpus(4, tmp_path, total=2):
            pass


def test_torchrun_single_node():
    command = torchrun_command(4, "python", {})
    assert command == ["python", "-m", "torch.distributed.run", "--nproc_per_node=4", "--standalone"]


def test_torchrun_across_slurm_nodes():
    environment = {"SLURM_JOB_NUM_NODES": "2", "SLURM_LAUNCH_NODE_IPADDR": "10.0.0.5", "SLURM_JOB_ID": "42"}
    command = torchrun_command(4, "python", environment)
    assert command[:3] == ["srun", "--nodes=2", "--ntasks-per-node=1"]
    assert "--nnodes=2" in command
    assert "--rdzv_endpoint=10.0.0.5:29400" in command
    assert "--rdzv_id=42" in command
