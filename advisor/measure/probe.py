"""Reading this machine's hardware and software facts (I/O only, nothing is timed).

Missing hardware is data: without a GPU, a driver or NVML, the result is a CPU-only machine with a
note. A GPU that fails to answer is listed with N/A fields while the others still are.
"""

from __future__ import annotations

import os
import platform

from advisor.measure import nvml
from advisor.measure.nvml import NA
from advisor.model.machine import CpuInfo, GpuInfo, MachineInfo


def _na_to_none(value):
    return None if value is NA else value


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), else all the machine has."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def probe_cpu() -> CpuInfo:
    import psutil

    model = None
    try:
        import cpuinfo  # py-cpuinfo: brand string on Linux, macOS and Windows

        model = cpuinfo.get_cpu_info().get("brand_raw")
    except Exception:
        model = None
    usable = usable_cores()
    try:
        freq = psutil.cpu_freq()
        max_mhz = float(freq.max) if freq and freq.max else None
    except Exception:
        max_mhz = None
    return CpuInfo(
        model=model or platform.processor() or "unknown CPU",
        physical_cores=psutil.cpu_count(logical=False),
        logical_cores=psutil.cpu_count(logical=True),
        usable_cores=usable,
        ram_bytes=int(psutil.virtual_memory().total),
        max_frequency_mhz=max_mhz,
    )


def probe_gpu(index: int, torch_capability=None) -> GpuInfo:
    handle = nvml.nvml_query("nvmlDeviceGetHandleByIndex", index)
    if handle is NA:
        return GpuInfo(index, None, None, None, None, None, None, None, None, None, None,
                       error="NVML could not open this GPU")
    q = nvml.nvml_query
    mem = q("nvmlDeviceGetMemoryInfo", handle)
    power_mw = q("nvmlDeviceGetPowerManagementLimit", handle)
    cc = q("nvmlDeviceGetCudaComputeCapability", handle)
    if cc is NA and torch_capability is not None:
        cc = torch_capability
    sm_count = None
    attrs = q("nvmlDeviceGetAttributes", handle)  # absent on some drivers and all consumer GPUs
    if attrs is not NA:
        sm_count = getattr(attrs, "multiprocessorCount", None)
    return GpuInfo(
        index=index,
        name=_na_to_none(q("nvmlDeviceGetName", handle)),
        vram_bytes=None if mem is NA else int(mem.total),
        sm_count=sm_count,
        max_sm_clock_mhz=_na_to_none(q("nvmlDeviceGetMaxClockInfo", handle, 1)),  # NVML_CLOCK_SM
        max_memory_clock_mhz=_na_to_none(q("nvmlDeviceGetMaxClockInfo", handle, 2)),  # _MEM
        memory_bus_width_bits=_na_to_none(q("nvmlDeviceGetMemoryBusWidth", handle)),
        pcie_generation=_na_to_none(q("nvmlDeviceGetMaxPcieLinkGeneration", handle)),
        pcie_width=_na_to_none(q("nvmlDeviceGetMaxPcieLinkWidth", handle)),
        power_limit_watts=None if power_mw is NA else power_mw / 1000.0,
        compute_capability=None if cc is NA else tuple(cc),
        cuda_cores=_na_to_none(q("nvmlDeviceGetNumGpuCores", handle)),
    )


def _fill_from_torch(gpu: GpuInfo, props) -> GpuInfo:
    """NVML leaves some fields N/A on some drivers; torch's device properties fill the gaps."""
    from dataclasses import replace

    return replace(
        gpu,
        name=gpu.name or props.name,
        vram_bytes=gpu.vram_bytes or int(props.total_memory),
        sm_count=gpu.sm_count or props.multi_processor_count,
        compute_capability=gpu.compute_capability or (props.major, props.minor),
    )


def probe_machine() -> MachineInfo:
    import torch
    import torchvision

    notes: list[str] = []
    gpus: list[GpuInfo] = []
    driver = cuda_driver = None
    count = nvml.nvml_query("nvmlDeviceGetCount", default=0)
    if nvml.last_error():
        notes.append(f"No NVIDIA GPU information: {nvml.last_error()}; profiling the CPU only.")
    elif not count:
        notes.append("NVML found no NVIDIA GPU; profiling the CPU only.")
    else:
        driver = _na_to_none(nvml.nvml_query("nvmlSystemGetDriverVersion"))
        v = nvml.nvml_query("nvmlSystemGetCudaDriverVersion")
        cuda_driver = None if v is NA else f"{v // 1000}.{v % 1000 // 10}"
        torch_ok = torch.cuda.is_available()
        for i in range(count):
            gpu = probe_gpu(i)
            if torch_ok and i < torch.cuda.device_count():
                try:
                    gpu = _fill_from_torch(gpu, torch.cuda.get_device_properties(i))
                except Exception:
                    pass
            gpus.append(gpu)
        if not torch_ok:
            notes.append("NVML sees GPUs but this torch build cannot use CUDA; training is measured on the CPU.")
    return MachineInfo(
        hostname=platform.node(),
        os=f"{platform.system()} {platform.release()}",
        python_version=platform.python_version(),
        torch_version=torch.__version__,
        torchvision_version=torchvision.__version__,
        cuda_runtime_version=torch.version.cuda,
        driver_version=driver,
        cuda_driver_version=cuda_driver,
        cpu=probe_cpu(),
        gpus=tuple(gpus),
        notes=tuple(notes),
    )
