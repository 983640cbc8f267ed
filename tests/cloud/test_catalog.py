"""The catalog: the shipped data is valid and sourced; bad files fail with file, entry, field."""

import datetime as dt

import pytest

from advisor.cloud.catalog import (
    BILLING_RULES,
    CatalogError,
    catalog_from_documents,
    find_gpu,
    gpu_for_device_name,
    load_catalog,
)
from advisor.errors import UsageError

REQUIRED_GPUS = ["k80", "p4", "p100", "v100", "v100-32gb", "t4", "l4", "a10", "a100-40gb", "a100-80gb",
                 "h100-sxm", "h100-pcie", "h200", "rtx-pro-6000", "m4000", "p4000", "p5000", "p6000",
                 "rtx-4000", "rtx-5000", "rtx-a4000", "rtx-a5000", "rtx-a6000", "rtx-4090"]


def test_shipped_catalog_has_the_gpus_and_providers():
    cat = load_catalog()
    assert set(REQUIRED_GPUS) <= set(cat.gpus)
    assert {o.provider for o in cat.offers} == {"colab", "gcp", "paperspace"}
    for o in cat.offers:
        assert o.source and isinstance(o.as_of, dt.date) and o.billing in BILLING_RULES
    gcp_gpus = {o.gpu for o in cat.offers if o.provider == "gcp"}
    assert {"t4", "p4", "p100", "v100", "l4", "a100-40gb", "a100-80gb", "h100-sxm", None} <= gcp_gpus
    colab = {o.id for o in cat.offers if o.provider == "colab"}
    # the runtime names of Colab's "Change runtime type" dialog
    assert {"cpu-free", "t4-gpu-free", "t4-gpu", "l4-gpu", "a100-gpu", "g4-gpu"} <= colab


def test_precision_semantics_of_the_specs():
    g = load_catalog().gpus
    assert g["v100"].tf32_tensor_flops_per_s is None and g["v100"].fp16_tensor_flops_per_s
    assert g["p100"].fp16_tensor_flops_per_s is None  # no tensor cores before Volta
    assert g["t4"].bf16_tensor_flops_per_s is None  # no bf16 before Ampere
    assert g["a100-40gb"].tf32_tensor_flops_per_s == pytest.approx(156e12)


def test_gpu_names_resolve_loosely_with_suggestions():
    gpus = load_catalog().gpus
    assert find_gpu(gpus, "h100").id == "h100-sxm"
    assert find_gpu(gpus, "A100 80GB").id == "a100-80gb"
    assert find_gpu(gpus, "rtx4090").id == "rtx-4090"
    with pytest.raises(UsageError, match="Did you mean: H100"):
        find_gpu(gpus, "H10")
    assert gpu_for_device_name(gpus, "NVIDIA H100 80GB HBM3").id == "h100-sxm"
    assert gpu_for_device_name(gpus, "NVIDIA A100-SXM4-80GB").id == "a100-80gb"
    assert gpu_for_device_name(gpus, "Some Other Accelerator") is None
    # an offer's marketing name ("GPU+", the M4000's at Paperspace) is not a model number
    assert gpu_for_device_name(gpus, "NVIDIA Some Future GPU") is None


@pytest.mark.parametrize("device_name, gpu_id", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"),  # what torch and NVML call the SXM part
    ("NVIDIA H100 PCIe", "h100-pcie"),
    ("NVIDIA H200", "h200"),
    ("NVIDIA A100-SXM4-40GB", "a100-40gb"),
    ("NVIDIA A100-SXM4-80GB", "a100-80gb"),
    ("Tesla V100-SXM2-16GB", "v100"),
    ("Tesla V100-SXM2-32GB", "v100-32gb"),
    ("Tesla P100-PCIE-16GB", "p100"),
    ("Tesla T4", "t4"),
    ("Tesla P4", "p4"),
    ("NVIDIA L4", "l4"),
    ("NVIDIA A10", "a10"),
    ("NVIDIA GeForce RTX 4090", "rtx-4090"),
    ("NVIDIA GeForce RTX 3090", "rtx-3090"),
    ("NVIDIA RTX 4000 Ada Generation", "rtx-4000-ada"),
    ("Quadro RTX 4000", "rtx-4000"),
    ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "rtx-pro-6000"),
    ("NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition", "rtx-pro-6000-maxq"),  # the 300-W card
])
def test_a_device_name_finds_its_own_datasheet(device_name, gpu_id):
    assert gpu_for_device_name(load_catalog().gpus, device_name).id == gpu_id


@pytest.mark.parametrize("device_name", [
    "NVIDIA H100 NVL",  # another part of the family: not the SXM datasheet
    "NVIDIA H200 NVL",
    "NVIDIA A100-PCIE-40GB",
    "Tesla P100-SXM2-16GB",
    "NVIDIA GeForce RTX 4090 Laptop GPU",
    "NVIDIA RTX PRO 6000 Blackwell Generation Laptop GPU",
    "Tesla P40",  # names that contain a catalog name's letters but are other GPUs
    "NVIDIA L40S",
    "NVIDIA A10G",
    "NVIDIA GeForce RTX 3090 Ti",
])
def test_a_device_name_the_catalog_lacks_matches_nothing(device_name):
    assert gpu_for_device_name(load_catalog().gpus, device_name) is None


GPU = {"name": "Test GPU", "arch": "Ampere", "compute_capability": "8.0", "vram_gb": 16,
       "memory_bandwidth_gb_per_s": 500, "fp32_tflops": 10, "source": "test"}
OFFER = {"id": "box", "instance": "a box", "gpu": "tg", "usd_per_hour": 1.0, "as_of": "2026-01-01",
         "source": "test"}


def doc(**offer_changes):
    offer = {**OFFER, **offer_changes}
    offer = {k: v for k, v in offer.items() if v is not None}
    return [("builtin", {"gpu": {"tg": GPU}}), ("extra.toml", {"provider": "gcp", "billing": "hourly", "offer": [offer]})]


def test_a_valid_extra_offer_loads():
    cat = catalog_from_documents(doc())
    (offer,) = cat.offers
    assert offer.key == "gcp:box" and offer.hourly_usd() == 1.0 and offer.origin == "extra.toml"


@pytest.mark.parametrize("changes, fragment", [
    ({"usd_per_hour": -1.0}, "field 'usd_per_hour' must be zero or more"),
    ({"usd_per_hour": "cheap"}, "field 'usd_per_hour' must be a number"),
    ({"usd_per_hour": None}, "field 'usd_per_hour' is missing"),
    ({"source": None}, "field 'source' is missing"),
    ({"gpu": "tgx"}, "names unknown GPU 'tgx'"),
    ({"as_of": "yesterday"}, "field 'as_of' must be a date"),
    ({"billing": "weekly"}, "field 'billing' must be one of"),
])
def test_bad_offer_names_file_entry_and_field(changes, fragment):
    with pytest.raises(CatalogError) as info:
        catalog_from_documents(doc(**changes))
    assert "extra.toml" in str(info.value) and "offer 'box'" in str(info.value)
    assert fragment in str(info.value)


def test_duplicate_ids_in_one_file_are_refused():
    docs = doc()
    docs[1][1]["offer"].append(dict(OFFER))
    with pytest.raises(CatalogError, match="duplicate"):
        catalog_from_documents(docs)


def test_an_extra_file_overrides_a_builtin_offer(tmp_path):
    extra = tmp_path / "cheap.toml"
    extra.write_text('provider = "gcp"\nbilling = "per_second_min_60s"\n[[offer]]\nid = "a2-highgpu-1g"\n'
                     'instance = "negotiated"\ngpu = "a100-40gb"\nvcpus = 12\nusd_per_hour = 1.5\n'
                     'as_of = 2026-11-01\nsource = "our contract"\n')
    cat = load_catalog((str(extra),))
    offer = next(o for o in cat.offers if o.key == "gcp:a2-highgpu-1g")
    assert offer.usd_per_hour == 1.5 and offer.instance == "negotiated"
    assert len([o for o in cat.offers if o.key == "gcp:a2-highgpu-1g"]) == 1


def test_unreadable_catalog_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("provider = [")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog((str(bad),))
    with pytest.raises(CatalogError, match="no such file"):
        load_catalog((str(tmp_path / "none.toml"),))


def test_the_wheel_ships_the_catalog_and_the_reference_profiles(tmp_path):
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    pytest.importorskip("setuptools")
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(root)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("advisor-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = "advisor/cloud/data"
    expected = {f"{data}/gpus.toml", f"{data}/interconnects.toml", f"{data}/offers/gcp.toml",
                f"{data}/offers/colab.toml", f"{data}/offers/paperspace.toml"}
    expected |= {f"{data}/measured/{f.name}" for f in (root / data / "measured").glob("*.json")}
    assert expected <= names


def test_the_catalog_as_dataframes_for_python_users():
    import advisor

    cat = advisor.load_catalog()
    gpus, offers = cat.gpus_frame(), cat.offers_frame()
    assert len(gpus) == len(cat.gpus) and "memory_bandwidth_bytes_per_s" in gpus.columns
    assert len(offers) == len(cat.offers) and {"key", "hourly_usd", "as_of", "source"} <= set(offers.columns)
    t4 = offers.loc[offers["key"] == "gcp:n1-standard-4-t4", "hourly_usd"].item()
    assert t4 == next(o for o in cat.offers if o.key == "gcp:n1-standard-4-t4").hourly_usd()
