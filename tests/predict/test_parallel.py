"""Data-parallel arithmetic: ring all-reduce, DDP buckets and overlap, shards, batch semantics."""

import math

import pytest
from builders import codes, make_calibration, make_cost, make_profile

from advisor import Estimator
from advisor.advise.advice import advise
from advisor.cloud.catalog import catalog_from_documents, load_catalog
from advisor.errors import UsageError
from advisor.measure.allreduce_fit import fit_allreduce, fit_overlap
from advisor.model.parallel import DDP_BUCKET_BYTES, DDP_FIRST_BUCKET_BYTES, CommModel, DataParallel, ddp_buckets
from advisor.model.workload import Workload
from advisor.predict.parallel import catalog_comm, ddp_step, shard_workload


def comm(world=2, bus=1e9, latency=0.0, overlap=1.0):
    return CommModel(world=world, bus_bytes_per_s=bus, latency_s=latency, basis="catalog", source="t",
                     overlap=overlap)


def test_ring_allreduce_moves_2_n_minus_1_over_n_of_the_bytes():
    assert comm(world=2).allreduce_seconds(1e9) == pytest.approx(1.0)  # 2(2-1)/2 = 1
    assert comm(world=8, latency=1e-3).allreduce_seconds(1e9) == pytest.approx(1e-3 + 1.75)
    assert comm(world=1).allreduce_seconds(1e9) == 0.0


def test_a_sweep_fit_recovers_latency_and_bus_bandwidth():
    latency, bus, world = 50e-6, 2e9, 4
    points = [(n, latency + n * 2 * (world - 1) / world / bus) for n in (4096, 2**20, 2**24, 2**26)]
    fitted_latency, fitted_bus = fit_allreduce(points, world)
    assert fitted_latency == pytest.approx(latency, rel=1e-6) and fitted_bus == pytest.approx(bus, rel=1e-6)


def test_ddp_buckets_follow_torch_defaults():
    assert ddp_buckets(0) == []
    assert ddp_buckets(1000) == [1000]
    grads = DDP_FIRST_BUCKET_BYTES + 2 * DDP_BUCKET_BYTES + 123
    assert ddp_buckets(grads) == [DDP_FIRST_BUCKET_BYTES, DDP_BUCKET_BYTES, DDP_BUCKET_BYTES, 123]


def test_backward_hides_all_but_the_last_bucket_when_it_is_long_enough():
    grads = DDP_FIRST_BUCKET_BYTES + DDP_BUCKET_BYTES + 2**20  # last bucket 1 MiB
    c = comm(bus=1e9)
    long_step = ddp_step(10.0, grads, c)
    assert long_step.exposed_seconds == pytest.approx(c.allreduce_seconds(2**20))
    assert long_step.seconds == pytest.approx(10.0 + c.allreduce_seconds(2**20))
    short = ddp_step(0.003, grads, c)  # backward 2 ms cannot hide ~28 ms of all-reduce
    assert short.exposed_seconds == pytest.approx(short.communication_seconds - 0.002)
    none = ddp_step(10.0, grads, comm(overlap=0.0))
    assert none.exposed_seconds == pytest.approx(none.communication_seconds)


def test_the_fitted_overlap_reproduces_a_measured_ddp_step():
    grads, c = 60 * 2**20, comm(bus=2e9)
    for overlap in (0.0, 0.3, 0.9):
        measured = ddp_step(0.05, grads, comm(bus=2e9, overlap=overlap)).seconds
        fitted = fit_overlap(0.05, measured, grads, c)
        assert ddp_step(0.05, grads, comm(bus=2e9, overlap=fitted)).seconds == pytest.approx(measured)
    # a step that lost more than the whole all-reduce: communication competed with computation
    slow = 0.05 + 2 * sum(c.allreduce_seconds(b) for b in ddp_buckets(grads))
    competing = fit_overlap(0.05, slow, grads, c)
    assert competing < 0
    assert ddp_step(0.05, grads, comm(bus=2e9, overlap=competing)).seconds == pytest.approx(slow)


def test_one_machine_is_bound_by_its_links_several_by_the_network():
    nvlink = catalog_comm("nvlink", 600e9, gpus_per_node=8)
    assert nvlink.world == 8 and nvlink.bus_bytes_per_s == pytest.approx(300e9 * 0.75)
    two = catalog_comm("nvlink", 600e9, gpus_per_node=8, nodes=2, network_bits_per_s=100e9)
    assert two.world == 16 and two.bus_bytes_per_s == pytest.approx(12.5e9 * 0.7)
    with pytest.raises(UsageError, match="network bandwidth"):
        catalog_comm("pcie", 64e9, gpus_per_node=4, nodes=2)


def test_each_rank_trains_its_distributed_sampler_shard():
    w = Workload(dataset_size=1000, valid_fraction=0.2, batch_size=32)
    shard = shard_workload(w, DataParallel(gpus_per_node=3))
    assert (shard.train_images, shard.valid_images) == (math.ceil(800 / 3), math.ceil(200 / 3))
    assert shard.batch_size == 32  # per GPU by default: the global batch is 96
    fixed = shard_workload(w, DataParallel(gpus_per_node=4, nodes=2, global_batch=256))
    assert fixed.batch_size == 32 and fixed.train_steps_per_epoch == math.ceil(100 / 32)
    assert shard_workload(w, DataParallel()) is w


@pytest.mark.parametrize("dp, fragment", [
    (DataParallel(gpus_per_node=0), "--gpus 0"),
    (DataParallel(nodes=0), "--nodes 0"),
    (DataParallel(gpus_per_node=3, global_batch=256), "not divisible by 3"),
])
def test_bad_data_parallel_requests_say_what_is_valid(dp, fragment):
    with pytest.raises(UsageError, match=fragment):
        dp.check()


# -- the catalog's interconnect facts and multi-GPU offers ----------------------------------

def test_multi_gpu_offers_carry_their_interconnect_and_network():
    cat = load_catalog()
    a2 = {o.id: o for o in cat.offers if o.provider == "gcp"}
    assert {a2[f"a2-highgpu-{n}g"].gpu_count for n in (1, 2, 4, 8)} == {1, 2, 4, 8}
    assert a2["a2-highgpu-8g"].interconnect == "nvlink3-nvswitch" and a2["a2-highgpu-8g"].network_bits_per_s == 100e9
    assert a2["a3-highgpu-8g"].network_bits_per_s == 1000e9 and a2["g2-standard-96"].interconnect == "pcie-gen4"
    for o in cat.offers:
        if o.gpu_count > 1:
            assert o.interconnect in cat.interconnects and cat.interconnects[o.interconnect].source
            assert o.network_bits_per_s is None or o.network_source


def test_an_unknown_interconnect_is_named_with_a_suggestion():
    from advisor.cloud.catalog import CatalogError

    docs = [("builtin", {"gpu": {"tg": {"name": "TG", "arch": "X", "compute_capability": "8.0", "vram_gb": 16,
                                        "memory_bandwidth_gb_per_s": 500, "fp32_tflops": 10, "source": "s"}},
                         "interconnect": {"pcie-gen4": {"name": "p", "kind": "pcie", "link_gb_per_s": 64,
                                                        "source": "s"}}}),
            ("x.toml", {"provider": "gcp", "billing": "hourly", "offer": [
                {"id": "b", "instance": "b", "gpu": "tg", "gpu_count": 2, "usd_per_hour": 1.0, "as_of": "2026-01-01",
                 "source": "s", "interconnect": "pcie-gen5"}]})]
    with pytest.raises(CatalogError, match="unknown interconnect 'pcie-gen5'.*pcie-gen4"):
        catalog_from_documents(docs)


# -- recommend with several GPUs ------------------------------------------------------------

def _advise(**kwargs):
    cost = make_cost(64, 4e9 * 64, 1e8 * 64)
    prof = make_profile(make_calibration(batch=64, cost=cost))
    w = Workload(model="resnet34", num_classes=37, dataset_size=50_000, epochs=2)
    # the counting estimator: batches the profile lacks are counted with torch
    return advise(prof, w, load_catalog(), providers=("gcp",), estimator=Estimator(prof), **kwargs)


def test_offers_with_several_gpus_report_scaling_and_communication():
    advice = _advise()
    options = {o.id: o.to_dict() for o in advice.options}
    eight = options["gcp:a2-highgpu-8g"]
    one = options["gcp:a2-highgpu-1g"]
    assert eight["gpus_per_node"] == 8 and eight["nodes"] == 1 and eight["global_batch"] == 8 * 64
    assert 0 < eight["scaling_efficiency"] <= 1 and 0 <= eight["communication_share"] < 1
    assert eight["communication_basis"] == "catalog"
    assert one["scaling_efficiency"] is None and one["gpus_per_node"] == 1
    # 8 GPUs train each epoch in about an eighth of the time, at the efficiency reported (the
    # one-time set-up does not shrink with more GPUs)
    speedup = one["breakdown_seconds"]["training"] / eight["breakdown_seconds"]["training"]
    assert 4 < speedup <= 8 and eight["train_images_per_s"] > 4 * one["train_images_per_s"]


def test_gpus_selects_offers_and_nodes_multiplies_machines_and_cost():
    four = _advise(gpus=4)
    ids = [o.id for o in four.options if o.id != "local"]
    assert ids and all(o.count == 4 for o in four.options if o.id != "local")
    two_nodes = _advise(gpus=8, nodes=2)
    by_id = {o.id: o for o in two_nodes.options}
    assert "gcp:a2-highgpu-8g:2-nodes" in by_id and by_id["gcp:a2-highgpu-8g:2-nodes"].count == 16
    single = {o.id: o for o in _advise(gpus=8).options}["gcp:a2-highgpu-8g"]
    pair = by_id["gcp:a2-highgpu-8g:2-nodes"]
    assert pair.estimate.seconds < single.estimate.seconds
    assert pair.cost_usd > single.cost_usd * pair.estimate.seconds / single.estimate.seconds * 1.9


def test_more_gpus_than_any_offer_or_a_node_count_without_network_is_refused_or_excluded():
    with pytest.raises(UsageError, match="more GPUs than any offer has \\(at most 8\\)"):
        _advise(gpus=16)
    advice = _advise(gpus=4, nodes=2)  # no 4-GPU type has a published network bandwidth
    assert all(o.id == "local" for o in advice.options)
    assert any("network bandwidth" in x["reason"] for x in advice.excluded)


def test_a_global_batch_is_split_among_the_gpus():
    advice = _advise(global_batch=256)
    options = {o.id: o.to_dict() for o in advice.options}
    assert options["gcp:a2-highgpu-8g"]["per_gpu_batch"] == 32
    assert options["gcp:a2-highgpu-1g"]["per_gpu_batch"] == 256
    assert all(o["global_batch"] == 256 for o in options.values())


def test_catalog_estimates_add_a_synchronisation_share_growing_with_log2_gpus():
    from advisor.predict.parallel import SYNC_SHARE_AT_8_GPUS, sync_seconds

    assert sync_seconds(1.0, 8, SYNC_SHARE_AT_8_GPUS) == pytest.approx(SYNC_SHARE_AT_8_GPUS)
    assert sync_seconds(1.0, 2, SYNC_SHARE_AT_8_GPUS) == pytest.approx(SYNC_SHARE_AT_8_GPUS / 3)
    assert sync_seconds(1.0, 1, SYNC_SHARE_AT_8_GPUS) == 0.0
    c = catalog_comm("nvlink", 600e9, gpus_per_node=8)
    assert c.sync_share_at_8 == SYNC_SHARE_AT_8_GPUS
    step = ddp_step(1.0, 100 * 2**20, c)
    assert step.exposed_seconds >= SYNC_SHARE_AT_8_GPUS  # a measured model (share 0) would not add it


# -- this machine's own ranks (profile --nproc) ----------------------------------------------

def _profile_with_ddp(ddp_step=1.5, compute_step=1.2):
    from dataclasses import replace as _replace

    from advisor.model.calibration import CalibrationKey
    from advisor.model.parallel import AllReducePoint, DistributedMeasurement
    from advisor.model.stats import Samples

    measured = make_calibration(model="resnet34", batch=64, train=(1.0, 1.0, 1.0))
    other = make_calibration(model="resnet18", batch=64, train=(0.5, 0.5, 0.5), evals=(0.1, 0.1, 0.1))
    key = CalibrationKey("resnet34", 37, 224, 64, "fp32", "cpu", "synthetic", 0)
    d = DistributedMeasurement(
        world=2, nodes=1, backend="gloo", hosts=("h", "h"), threads_per_rank=1,
        allreduce=(AllReducePoint(4096, Samples((1e-3,))), AllReducePoint(2**26, Samples((0.05,)))),
        latency_s=1e-3, bus_bytes_per_s=1.5e9, key=key, compute_step_seconds=Samples((compute_step,)),
        ddp_step_seconds=Samples((ddp_step,)), eval_step_seconds=Samples((0.3,)), gradient_bytes=8 * 10**7,
        overlap=0.0)
    return _replace(make_profile(measured, other), distributed=d)


def test_the_measured_workload_is_predicted_from_its_ddp_steps():
    from advisor.predict.local import Estimator

    w = Workload(model="resnet34", num_classes=37, batch_size=64, dataset_size=1280, valid_fraction=0.2, epochs=1)
    e = Estimator(_profile_with_ddp()).estimate_data_parallel(w, DataParallel(gpus_per_node=2))
    assert e.basis == "measured" and e.workload == w
    # each rank: 512 training images in 8 steps of the measured 1.5 s DDP step
    assert e.breakdown_seconds["training"] == pytest.approx(8 * 1.5)
    assert e.parallel["scaling_efficiency"] == pytest.approx(1.0 / 1.5, abs=1e-4)  # rounded to 4 places
    assert e.parallel["communication_basis"] == "measured"


def test_the_measured_ddp_workload_validating_at_its_own_batch_scales_only_its_validation():
    from advisor.predict.local import Estimator

    def count(model, classes, size, batch, precision):
        return make_cost(batch, 1e9 * batch / 64, 1e8 * batch / 64)

    w = Workload(model="resnet34", num_classes=37, batch_size=64, dataset_size=1280, valid_fraction=0.2, epochs=1)
    same = Estimator(_profile_with_ddp(), count=count).estimate_data_parallel(w, DataParallel(gpus_per_node=2))
    wide = Estimator(_profile_with_ddp(), count=count).estimate_data_parallel(
        w.with_(valid_batch_size=128), DataParallel(gpus_per_node=2))
    assert wide.basis == "measured"
    assert wide.breakdown_seconds["training"] == same.breakdown_seconds["training"]
    # each rank's 128 validation images: 2 steps of the measured 0.3 s, or 1 of twice the work
    assert same.breakdown_seconds["validation"] == pytest.approx(2 * 0.3)
    assert wide.breakdown_seconds["validation"] == pytest.approx(0.6, rel=0.01)
    assert "valid-batch" in codes(wide.notes)


def test_another_workload_is_slowed_by_the_measured_sharing_and_pays_its_all_reduce():
    from advisor.predict.local import Estimator

    prof = _profile_with_ddp(compute_step=1.2)  # sharing the machine: 1.2 s against 1.0 s alone
    w = Workload(model="resnet18", num_classes=37, batch_size=64, dataset_size=1280, epochs=1)
    cost = make_cost(64, 1e9, 1e8)  # 1000 parameters: a negligible all-reduce
    e = Estimator(prof, count=lambda *a: cost).estimate_data_parallel(w, DataParallel(gpus_per_node=2))
    assert e.basis == "scaled"
    step = 2 * 64 / e.train_images_per_s  # images/s of both ranks together
    comm = prof.distributed.comm_model()
    assert step == pytest.approx(0.5 * 1.2 + comm.allreduce_seconds(4000), rel=1e-6)
    assert "ddp-scaled" in codes(e.notes)


def test_asking_for_more_ranks_than_were_measured_says_how_to_measure_them():
    from advisor.predict.local import Estimator

    with pytest.raises(UsageError, match="advisor profile --nproc 4"):
        Estimator(_profile_with_ddp()).estimate_data_parallel(Workload(), DataParallel(gpus_per_node=4))


def test_a_reference_profile_measured_on_several_gpus_replaces_the_catalog_all_reduce():
    from dataclasses import replace as _replace

    from advisor.model.parallel import AllReducePoint, DistributedMeasurement
    from advisor.model.stats import Samples

    nccl = DistributedMeasurement(
        world=8, nodes=1, backend="nccl", hosts=("g",) * 8, threads_per_rank=None,
        allreduce=(AllReducePoint(4096, Samples((3e-5,))), AllReducePoint(2**26, Samples((6e-4,)))),
        latency_s=3e-5, bus_bytes_per_s=190e9, measured_at="2026-11-26T00:00:00+00:00")
    reference = _replace(make_profile(device="cuda:0"), device_name="NVIDIA A100-SXM4-40GB", distributed=nccl)
    options = {o.id: o.to_dict() for o in _advise(gpus=8, references=[reference]).options}
    assert options["gcp:a2-highgpu-8g"]["communication_basis"] == "measured"
    assert "nccl on 8 ranks" in options["gcp:a2-highgpu-8g"]["parallel"]["communication_source"]
    assert options["gcp:a3-highgpu-8g"]["communication_basis"] == "catalog"  # another GPU model
