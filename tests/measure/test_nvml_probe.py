"""NVML scenarios without a GPU: a fake pynvml module stands in for the driver."""

from types import SimpleNamespace

import pytest

from advisor.measure import nvml
from advisor.measure.nvml import NA
from advisor.measure.probe import probe_gpu


class FakeNVML:
    """A pynvml stand-in: `gpus` maps index -> dict of facts, or None for a failing GPU."""

    def __init__(self, gpus=None, init_error=None, missing=()):
        self.gpus = gpus or {}
        self.init_error = init_error
        for name in missing:
            setattr(self, name, None)

    def nvmlInit(self):
        if self.init_error:
            raise self.init_error

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlSystemGetDriverVersion(self):
        return b"550.54.15"

    def nvmlSystemGetCudaDriverVersion(self):
        return 12040

    def nvmlDeviceGetHandleByIndex(self, i):
        if self.gpus.get(i) is None:
            raise RuntimeError("GPU is lost")
        return i

    def _g(self, h):
        return self.gpus[h]

    def nvmlDeviceGetName(self, h):
        return self._g(h)["name"].encode()

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(total=self._g(h)["vram"])

    def nvmlDeviceGetAttributes(self, h):
        return SimpleNamespace(multiprocessorCount=self._g(h)["sms"])

    def nvmlDeviceGetMaxClockInfo(self, h, kind):
        return self._g(h)["sm_clock"] if kind == 1 else self._g(h)["mem_clock"]

    def nvmlDeviceGetMemoryBusWidth(self, h):
        return self._g(h)["bus"]

    def nvmlDeviceGetMaxPcieLinkGeneration(self, h):
        return 4

    def nvmlDeviceGetMaxPcieLinkWidth(self, h):
        return 16

    def nvmlDeviceGetPowerManagementLimit(self, h):
        return 400000

    def nvmlDeviceGetCudaComputeCapability(self, h):
        return (8, 0)

    def nvmlDeviceGetNumGpuCores(self, h):
        return 6912


A100 = dict(name="NVIDIA A100-SXM4-40GB", vram=40 * 2**30, sms=108, sm_clock=1410, mem_clock=1215, bus=5120)


@pytest.fixture(autouse=True)
def restore_nvml():
    yield
    nvml.use_module(None)


def test_one_gpu_is_read_with_theoretical_bandwidth():
    nvml.use_module(FakeNVML({0: A100}))
    gpu = probe_gpu(0)
    assert gpu.name == "NVIDIA A100-SXM4-40GB" and gpu.sm_count == 108
    assert gpu.compute_capability == (8, 0) and gpu.power_limit_watts == 400.0
    # 5120 bit x 1215 MHz x 2 / 8 = 1555 GB/s, the A100 40GB datasheet figure
    assert gpu.theoretical_bandwidth_bytes_per_s == pytest.approx(1.5552e12)


def test_no_driver_is_a_note_not_an_exception():
    class NotFound(Exception):
        pass

    nvml.use_module(FakeNVML(init_error=NotFound("NVML Shared Library Not Found")))
    assert nvml.nvml_query("nvmlDeviceGetCount", default=0) == 0
    assert "NVML Shared Library Not Found" in nvml.last_error()


def test_a_failing_gpu_is_listed_with_an_error_while_others_are_read():
    nvml.use_module(FakeNVML({0: None, 1: A100}))
    lost, ok = probe_gpu(0), probe_gpu(1)
    assert lost.error and lost.name is None
    assert ok.name == A100["name"] and ok.error is None


def test_missing_nvml_function_becomes_not_available():
    nvml.use_module(FakeNVML({0: A100}, missing=("nvmlDeviceGetNumGpuCores", "nvmlDeviceGetAttributes")))
    gpu = probe_gpu(0)
    assert gpu.cuda_cores is None and gpu.sm_count is None
    assert nvml.nvml_query("nvmlDeviceGetNumGpuCores", 0) is NA
    assert not NA and repr(NA) == "N/A"


def test_probe_machine_without_nvml_is_cpu_only():
    from advisor.measure.probe import probe_machine

    class NotFound(Exception):
        pass

    nvml.use_module(FakeNVML(init_error=NotFound("Driver Not Loaded")))
    machine = probe_machine()
    assert machine.gpus == ()
    assert any("Driver Not Loaded" in n for n in machine.notes)
    assert machine.cpu.logical_cores >= 1 and machine.cpu.ram_bytes > 0


def test_probe_machine_with_a_fake_gpu_lists_it():
    from advisor.measure.probe import probe_machine

    nvml.use_module(FakeNVML({0: A100}))
    machine = probe_machine()
    assert [g.name for g in machine.gpus] == [A100["name"]]
    assert machine.driver_version == "550.54.15" and machine.cuda_driver_version == "12.4"
