"""Real torch.distributed runs: 2 gloo processes on loopback (a few seconds each, no GPU)."""

import json
import os
import subprocess
import sys

import pytest

from advisor.cli import main
from advisor.errors import RuntimeFailure
from advisor.measure.ddp import launch_local, measure_in_torchrun
from advisor.store import load_profile

TINY = ["--model", "resnet18", "--image-size", "32", "--batch-size", "4", "--num-classes", "3"]

pytestmark = [pytest.mark.slow, pytest.mark.skipif((len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                 else os.cpu_count()) < 2, reason="needs 2 CPU cores")]


def test_profile_nproc_2_stores_the_allreduce_sweep_and_a_ddp_step(tmp_path, capsys):
    out = tmp_path / "p.json"
    code = main(["profile", *TINY, "--device", "cpu", "--budget-s", "6", "--nproc", "2", "--output", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    d = load_profile(out).distributed
    assert d.world == 2 and d.nodes == 1 and d.backend == "gloo" and d.threads_per_rank >= 1
    assert [p.nbytes for p in d.allreduce] == sorted(p.nbytes for p in d.allreduce) and len(d.allreduce) >= 6
    assert all(len(p.seconds.values) >= 5 for p in d.allreduce)
    # the fitted latency and bus bandwidth reproduce the sweep's largest all-reduce
    largest = d.allreduce[-1]
    assert d.bus_bytes_per_s > 0
    assert 1 / 3 < d.comm_model().allreduce_seconds(largest.nbytes) / largest.seconds.median < 3
    assert d.key.model == "resnet18" and d.key.batch_size == 4 and d.gradient_bytes > 4 * 10**6
    assert d.ddp_step_seconds.median > 0 and d.compute_step_seconds.median > 0
    assert "Data-parallel: 2 ranks on 1 machine(s), gloo" in text
    # the measured DDP steps now predict a 2-process run of this machine
    code = main(["recommend", "--dataset-size", "400", *TINY, "--profile", str(out), "--gpus", "2",
                 "--local-only", "--format", "json"])
    local = json.loads(capsys.readouterr().out)["options"][0]
    assert code == 0 and local["basis"] == "measured" and local["gpus_per_node"] == 2
    assert local["communication_basis"] == "measured" and local["per_gpu_batch"] == 4


def test_an_unreachable_rendezvous_fails_with_a_clear_error_not_a_hang(monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here
    for k, v in {"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(RuntimeFailure, match=f"rank 1 on .* could not join the rendezvous at 127.0.0.1:{port}"):
        measure_in_torchrun("cpu", None, 2.0, timeout_s=3)


def test_ranks_that_do_not_finish_in_time_are_named_and_stopped():
    with pytest.raises(RuntimeFailure, match=r"rank\(s\) 0, 1 on host .* did not finish within 1 s"):
        launch_local({"mode": "measure", "device": "cpu", "budget_s": 60, "workload": None}, 2, timeout_s=1)


def test_a_cluster_profile_under_torchrun(tmp_path):
    out = tmp_path / "cluster.json"
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    proc = subprocess.run([torchrun, "--nnodes", "1", "--nproc-per-node", "2", "-m", "advisor", "profile",
                           "--distributed", *TINY, "--device", "cpu", "--budget-s", "6", "--output", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    prof = load_profile(out)
    assert prof.distributed.world == 2 and len(prof.cluster) == 1
    assert prof.cluster[0]["hostname"] == prof.machine.hostname and prof.calibrations


def test_two_machines_under_torchrun_each_profile_themselves_and_rank_0_writes_one_profile(tmp_path):
    """Two torchrun launchers on this host stand in for two machines (static rendezvous)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    out = tmp_path / "cluster.json"
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    nodes = [subprocess.Popen([torchrun, "--nnodes", "2", "--node-rank", str(r), "--nproc-per-node", "1",
                               "--master-addr", "127.0.0.1", "--master-port", port, "-m", "advisor", "profile",
                               "--distributed", *TINY, "--device", "cpu", "--budget-s", "6", "--output", str(out)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    results = [n.communicate(timeout=300) for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], results[0][1][-2000:] + results[1][1][-2000:]
    prof = load_profile(out)
    assert prof.distributed.world == 2 and prof.distributed.nodes == 2 and len(prof.cluster) == 2
    assert all(node["train_images_per_s"] > 0 for node in prof.cluster)
    assert "Saved to" in results[0][0] and "Saved to" not in results[1][0]


def test_a_rank_that_refuses_its_work_is_named_and_keeps_the_kind_of_error():
    from advisor.errors import UsageError
    from advisor.measure.ddp import train_nproc
    from advisor.model.workload import Workload

    with pytest.raises(UsageError, match=r"failed on rank \d \(host .*\): .*frozen epochs is not supported"):
        train_nproc(Workload(model="resnet18", image_size=32, batch_size=4, num_classes=3, dataset_size=16,
                             epochs=1, frozen_epochs=1), 2, timeout_s=120)
