"""Measuring data-parallel training with torch.distributed: an all-reduce sweep and DDP steps.

`measure_nproc` starts N local processes the way torchrun does (one `python -c` per rank with
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set; gloo on CPUs, NCCL on GPUs);
`measure_in_torchrun` is the same worker run by a process torchrun started, on one machine or
many. Each rank, concurrently:
  1. all-reduces float32 tensors of 4 KiB to 64 MiB (a small nccl-tests-like sweep; the fit
     gives latency and bus bandwidth),
  2. times plain training steps of the workload (what one rank computes while the others do
     the same, sharing the machine),
  3. times the same steps under DistributedDataParallel, and validation steps.
Rank 0 gathers everything, including every rank's host name. A rank that fails or does not
answer in time is reported by rank and host; nothing is written unless all ranks finished.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from advisor.errors import RuntimeFailure, UsageError
from advisor.measure.allreduce_fit import fit_allreduce, fit_overlap
from advisor.measure.probe import usable_cores
from advisor.model.calibration import CalibrationKey
from advisor.model.parallel import (
    CommModel,
    DistributedMeasurement,
    gradient_bytes,
)
from advisor.model.stats import Samples
from advisor.model.workload import Workload

SWEEP_BYTES = tuple(2**k for k in range(12, 27, 2))  # 4 KiB .. 64 MiB
DEFAULT_TIMEOUT_S = 120.0
_WORKER = "from advisor.measure.ddp import _worker_main; _worker_main()"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_nproc(nproc: int, device: str, usable_cores: int, gpu_count: int) -> None:
    if nproc < 2:
        raise UsageError(f"--nproc {nproc}: data-parallel profiling needs 2 or more processes.")
    if device.startswith("cuda"):
        if nproc > gpu_count:
            raise UsageError(f"--nproc {nproc}: this machine has {gpu_count} GPU(s); give at most {gpu_count}.")
    elif nproc > usable_cores:
        raise UsageError(f"--nproc {nproc}: this machine has {usable_cores} usable CPU core(s); "
                         f"give at most {usable_cores} processes (each needs a core).")


def launch_local(request: dict, nproc: int, timeout_s: float = DEFAULT_TIMEOUT_S,
                 master_port: int | None = None) -> dict:
    """Run the worker on `nproc` local ranks; return rank 0's result.

    Any rank that fails ends the run, named with its host and last words; ranks still
    running after `timeout_s` are stopped and named.
    """
    port = master_port or _free_port()
    host = socket.gethostname()
    procs, outs, errs = [], [], []
    payload = json.dumps({**request, "timeout_s": timeout_s})
    try:
        for rank in range(nproc):
            env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(nproc), "LOCAL_RANK": str(rank),
                   "LOCAL_WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
            out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
            outs.append(out)
            errs.append(err)
            p = subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE, stdout=out,
                                 stderr=err, text=True, env=env, start_new_session=True)
            p.stdin.write(payload)
            p.stdin.close()
            procs.append(p)
        deadline = time.monotonic() + timeout_s
        while any(p.poll() is None for p in procs):
            failed = [r for r, p in enumerate(procs) if p.poll() not in (None, 0)]
            if failed:
                _raise_rank_failure(failed[0], host, errs[failed[0]], outs[failed[0]], procs[failed[0]].returncode)
            if time.monotonic() > deadline:
                late = [r for r, p in enumerate(procs) if p.poll() is None]
                raise RuntimeFailure(
                    f"distributed run: rank(s) {', '.join(map(str, late))} on host {host} did not "
                    f"finish within {timeout_s:.0f} s (rendezvous 127.0.0.1:{port}); nothing was saved.")
            time.sleep(0.05)
        for r, p in enumerate(procs):
            if p.returncode != 0:
                _raise_rank_failure(r, host, errs[r], outs[r], p.returncode)
        outs[0].seek(0)
        lines = [ln for ln in outs[0].read().splitlines() if ln.startswith("{")]
        if not lines:
            raise RuntimeFailure("distributed run: rank 0 ended without a result.")
        message = json.loads(lines[-1])
        if "error" in message:
            raise (UsageError if message["error"]["kind"] == "usage" else RuntimeFailure)(message["error"]["message"])
        return message["result"]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in outs + errs:
            f.close()


def _raise_rank_failure(rank: int, host: str, err, out, code) -> None:
    """A rank's own error, kept as its kind (a usage error stays exit 2), named by rank and host."""
    kind, words = _last_words(err, out, code)
    raise (UsageError if kind == "usage" else RuntimeFailure)(
        f"distributed run failed on rank {rank} (host {host}): {words}")


def _last_words(err, out, code) -> tuple[str, str]:
    for f in (out, err):
        f.seek(0)
        for line in reversed(f.read().splitlines()):
            if line.startswith('{"error"'):
                error = json.loads(line)["error"]
                return error["kind"], error["message"]
    err.seek(0)
    lines = [ln for ln in err.read().strip().splitlines() if ln.strip()]
    return "runtime", lines[-1] if lines else f"exit status {code}, no output"


def _worker_main() -> None:
    import traceback

    request = json.loads(sys.stdin.read())
    try:
        result = run_worker(request)
    except UsageError as exc:
        print(json.dumps({"error": {"kind": "usage", "message": str(exc)}}), flush=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 -- named to the launcher; traceback on stderr
        traceback.print_exc()
        first = (str(exc) or type(exc).__name__).strip().splitlines()[0]
        print(json.dumps({"error": {"kind": "runtime", "message": first}}), flush=True)
        sys.exit(1)
    if result is not None:
        print(json.dumps({"result": result}), flush=True)


# -- the worker (one rank) --------------------------------------------------------------------

def run_worker(request: dict, node_profile=None) -> dict | None:
    """One rank's part. Reads RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and
    MASTER_PORT as torchrun sets them; returns the gathered result on rank 0, None elsewhere.

    `node_profile()`, when given, runs on each machine's local rank 0 first (the machine
    measuring itself) while its other ranks wait; rank 0 receives every machine's answer."""
    import torch
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    cuda = request["device"].startswith("cuda")
    device = f"cuda:{local_rank}" if cuda else "cpu"
    threads = None
    if cuda:
        torch.cuda.set_device(device)
    else:
        # the ranks on a machine share its cores, as torchrun's OMP_NUM_THREADS=1 intends
        threads = max(1, usable_cores() // local_world)
    backend = "nccl" if cuda else "gloo"
    timeout = request.get("timeout_s", DEFAULT_TIMEOUT_S)
    where = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
    try:
        dist.init_process_group(backend, rank=rank, world_size=world,
                                timeout=_dt.timedelta(seconds=timeout))
    except (RuntimeError, ValueError) as exc:  # DistStoreError, DistNetworkError, timeouts
        raise RuntimeFailure(
            f"rank {rank} on {socket.gethostname()} could not join the rendezvous at {where} within "
            f"{timeout:.0f} s ({str(exc).strip().splitlines()[0][:120]}); check that rank 0 runs and "
            "every machine uses the same MASTER_ADDR and MASTER_PORT.") from None
    try:
        hosts = [None] * world
        dist.all_gather_object(hosts, socket.gethostname())
        cluster = None
        if node_profile is not None:
            mine = _with_all_cores(node_profile) if local_rank == 0 else None
            everyone = [None] * world
            dist.all_gather_object(everyone, mine)
            cluster = [n for n in everyone if n is not None]
        if threads is not None:  # after the machine measured itself with all its cores
            torch.set_num_threads(threads)
        if request.get("mode") == "train":
            out = _train(request, device, rank, world)
        else:
            out = _measure(request, device, rank, world, backend, threads, hosts)
            if cluster is not None:
                out["cluster"] = cluster
        dist.barrier()
        return out if rank == 0 else None
    except (UsageError, RuntimeFailure):
        raise
    except RuntimeError as exc:  # a collective that failed: another rank died or timed out
        raise RuntimeFailure(
            f"rank {rank} on {socket.gethostname()}: the other ranks stopped answering "
            f"({str(exc).strip().splitlines()[0][:160]}); see the failed rank's own error.") from exc
    finally:
        dist.destroy_process_group()


def _with_all_cores(measure):
    """Run `measure` with every core, whatever OMP_NUM_THREADS torchrun set for the ranks (its
    fresh calibration process inherits the environment)."""
    import torch

    saved = os.environ.pop("OMP_NUM_THREADS", None)
    before = torch.get_num_threads()
    torch.set_num_threads(usable_cores())
    try:
        return measure()
    finally:
        torch.set_num_threads(before)
        if saved is not None:
            os.environ["OMP_NUM_THREADS"] = saved


def _sweep(device: str, budget_s: float, sizes=SWEEP_BYTES) -> list[tuple[int, list[float]]]:
    import torch
    import torch.distributed as dist

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    points = []
    per_size = budget_s / len(sizes)
    for nbytes in sizes:
        t = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
        for _ in range(2):  # warm-up: connections, buffers
            dist.all_reduce(t)
        sync()
        times: list[float] = []
        start_all = time.perf_counter()
        while len(times) < 30:
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(t)
            sync()
            times.append(time.perf_counter() - start)
            # every rank must run the same number of all-reduces: rank 0 decides
            go_on = torch.tensor([1 if (len(times) < 5 or time.perf_counter() - start_all < per_size) else 0],
                                 device=device)
            dist.broadcast(go_on, 0)
            if not go_on.item():
                break
        points.append((nbytes, times))
    return points


def _synced_steps(step, sync, budget_s: float, device: str, min_n: int = 3, max_n: int = 100) -> list[float]:
    import torch
    import torch.distributed as dist

    times: list[float] = []
    start_all = time.perf_counter()
    while True:
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
        go_on = torch.tensor([1 if len(times) < min_n or (len(times) < max_n and
                                                           time.perf_counter() - start_all < budget_s) else 0],
                             device=device)
        dist.broadcast(go_on, 0)
        if not go_on.item():
            return times


def _ddp(model, device: str):
    """The model wrapped in DistributedDataParallel with its defaults (25 MiB buckets)."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[int(device.split(":")[1])] if device.startswith("cuda") else None)


def _measure(request, device, rank, world, backend, threads, hosts) -> dict:
    import torch.distributed as dist

    from advisor.measure.training import Trainer, synthetic_batch

    budget = float(request["budget_s"])
    # machines as torchrun counts them (each has LOCAL_WORLD_SIZE ranks); host names may repeat
    nodes = max(1, world // int(os.environ.get("LOCAL_WORLD_SIZE", world)))
    raw = _sweep(device, 0.25 * budget)
    points = [(n, sorted(ts)[len(ts) // 2]) for n, ts in raw]
    latency, bus = fit_allreduce(points, world)
    result = dict(world=world, nodes=nodes, backend=backend, hosts=hosts, threads_per_rank=threads,
                  allreduce=[{"nbytes": n, "seconds": {"values": ts, "median": sorted(ts)[len(ts) // 2]}}
                             for n, ts in raw],
                  latency_s=latency, bus_bytes_per_s=bus,
                  measured_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    if not request.get("workload"):
        return result
    w = Workload(**request["workload"])
    trainer = Trainer(w, device)
    x, y = synthetic_batch(w, device)
    sync = trainer.sync
    dist.barrier()
    plain = _synced_steps(lambda: trainer.train_step(x, y), sync, 0.2 * budget, device)[1:]  # first: warm-up
    trainer.model = _ddp(trainer.model, device)
    dist.barrier()
    warm = _synced_steps(lambda: trainer.train_step(x, y), sync, 0.0, device, min_n=2, max_n=2)
    ddp = _synced_steps(lambda: trainer.train_step(x, y), sync, 0.35 * budget, device)
    evals = _synced_steps(lambda: trainer.eval_step(x), sync, 0.1 * budget, device)[1:]
    grads = gradient_bytes(sum(p.numel() for p in trainer.model.parameters() if p.requires_grad))
    comm = CommModel(world=world, bus_bytes_per_s=bus, latency_s=latency, basis="measured", source="")
    plain_s, ddp_s = Samples(tuple(plain)), Samples(tuple(ddp))
    result.update(
        key=dict(CalibrationKey.of(w, request["device"]).__dict__),
        compute_step_seconds={"values": plain_s.to_list(), "median": plain_s.median},
        ddp_step_seconds={"values": ddp_s.to_list(), "median": ddp_s.median},
        eval_step_seconds={"values": list(evals), "median": Samples(tuple(evals)).median},
        warmup_ddp_step_seconds=warm, gradient_bytes=grads,
        overlap=fit_overlap(plain_s.median, ddp_s.median, grads, comm),
    )
    return result


def _train(request, device, rank, world) -> dict:
    """A full DDP training run of the workload's shard on every rank (the benchmark's yardstick)."""
    import torch.distributed as dist

    from advisor.measure.training import run_training
    from advisor.model.parallel import DataParallel
    from advisor.predict.parallel import shard_workload

    w = Workload(**request["workload"])
    if w.frozen_epochs:
        raise UsageError("a data-parallel training run with frozen epochs is not supported; use --frozen-epochs 0.")
    shard = shard_workload(w, DataParallel(gpus_per_node=world))

    def wrap(trainer):
        trainer.model = _ddp(trainer.model, device)
        dist.barrier()  # every rank starts its first step together

    run = run_training(shard, device, prepare=wrap)
    seconds = [None] * world
    dist.all_gather_object(seconds, run.seconds)
    return {"seconds": max(seconds), "rank_seconds": seconds, "train_seconds": list(run.train_seconds),
            "valid_seconds": list(run.valid_seconds), "shard": shard.to_dict()}


# -- front ------------------------------------------------------------------------------------

def measure_nproc(nproc: int, device: str, workload: Workload | None, budget_s: float,
                  timeout_s: float | None = None) -> DistributedMeasurement:
    """Measure `nproc` local ranks (gloo on CPU, NCCL on GPUs)."""
    import dataclasses

    request = {"mode": "measure", "device": device, "budget_s": budget_s,
               "workload": dataclasses.asdict(workload) if workload else None}
    result = launch_local(request, nproc, timeout_s or max(DEFAULT_TIMEOUT_S, 4 * budget_s))
    return DistributedMeasurement.from_dict(result)


def train_nproc(workload: Workload, nproc: int, device: str = "cpu", timeout_s: float = 3600) -> dict:
    """A real DDP training run of `workload` on `nproc` local ranks; rank 0's gathered result."""
    import dataclasses

    return launch_local({"mode": "train", "device": device, "workload": dataclasses.asdict(workload)},
                        nproc, timeout_s)


def measure_in_torchrun(device: str, workload: Workload | None, budget_s: float,
                        timeout_s: float = DEFAULT_TIMEOUT_S, node_profile=None,
                        ) -> tuple[DistributedMeasurement, list] | None:
    """The worker in a process torchrun started: (measurement, every machine's node_profile()
    answer) on global rank 0, None elsewhere."""
    import dataclasses

    missing = [v for v in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise UsageError(f"--distributed: {', '.join(missing)} not set; start it with torchrun, e.g. "
                         "`torchrun --nnodes 2 --nproc-per-node 4 -m advisor profile --distributed`.")
    request = {"mode": "measure", "device": device, "budget_s": budget_s, "timeout_s": timeout_s,
               "workload": dataclasses.asdict(workload) if workload else None}
    result = run_worker(request, node_profile)
    return None if result is None else (DistributedMeasurement.from_dict(result), result.get("cluster", []))






