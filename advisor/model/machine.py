"""What a machine is and how fast its parts ran: hardware facts and micro-benchmark rates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from advisor.model.stats import Samples


@dataclass(frozen=True)
class CpuInfo:
    model: str
    physical_cores: int | None
    logical_cores: int | None
    usable_cores: int | None  # affinity: what this process may run on (containers limit it)
    ram_bytes: int | None
    max_frequency_mhz: float | None


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str | None
    vram_bytes: int | None
    sm_count: int | None
    max_sm_clock_mhz: int | None
    max_memory_clock_mhz: int | None
    memory_bus_width_bits: int | None
    pcie_generation: int | None
    pcie_width: int | None
    power_limit_watts: float | None
    compute_capability: tuple[int, int] | None
    cuda_cores: int | None = None
    error: str | None = None

    @property
    def theoretical_bandwidth_bytes_per_s(self) -> float | None:
        """Bus width x max memory clock x 2 (double data rate) / 8 bits per byte.

        NVML reports the memory clock of HBM and GDDR6 as the rate this formula expects; for GDDR6X
        and GDDR7 the figure is a lower bound.
        """
        if not (self.memory_bus_width_bits and self.max_memory_clock_mhz):
            return None
        return self.memory_bus_width_bits * self.max_memory_clock_mhz * 1e6 * 2 / 8

    def to_dict(self) -> dict:
        d = asdict(self)
        d["theoretical_bandwidth_bytes_per_s"] = self.theoretical_bandwidth_bytes_per_s
        return d


@dataclass(frozen=True)
class MachineInfo:
    hostname: str
    os: str
    python_version: str
    torch_version: str
    torchvision_version: str
    cuda_runtime_version: str | None
    driver_version: str | None
    cuda_driver_version: str | None
    cpu: CpuInfo
    gpus: tuple[GpuInfo, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gpus"] = [g.to_dict() for g in self.gpus]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MachineInfo:
        gpus = []
        for g in d.get("gpus", []):
            g = {k: v for k, v in g.items() if k != "theoretical_bandwidth_bytes_per_s"}
            if g.get("compute_capability") is not None:
                g["compute_capability"] = tuple(g["compute_capability"])
            gpus.append(GpuInfo(**g))
        fields = {k: v for k, v in d.items() if k not in ("cpu", "gpus", "notes")}
        return cls(cpu=CpuInfo(**d["cpu"]), gpus=tuple(gpus), notes=tuple(d.get("notes", ())),
                   **fields)


@dataclass(frozen=True)
class MicroBenchmarks:
    """Rates measured on this machine; None where the hardware is absent."""

    host_memory_bytes_per_s: Samples
    device_memory_bytes_per_s: Samples | None = None
    host_to_device_pinned_bytes_per_s: Samples | None = None
    host_to_device_pageable_bytes_per_s: Samples | None = None
    matmul_flops_per_s: dict[str, Samples] | None = None  # precision -> FLOP/s
    op_overhead_s: Samples | None = None  # seconds per tiny op: dispatch (and kernel launch)
    # a 3x3 convolution's forward and backward under each autocast type, FLOP/s (CPU profiles)
    conv_train_flops_per_s: dict[str, Samples] | None = None

    def to_dict(self) -> dict:
        def s(x):
            return None if x is None else {"values": x.to_list(), "median": x.median}

        return {
            "host_memory_bytes_per_s": s(self.host_memory_bytes_per_s),
            "device_memory_bytes_per_s": s(self.device_memory_bytes_per_s),
            "host_to_device_pinned_bytes_per_s": s(self.host_to_device_pinned_bytes_per_s),
            "host_to_device_pageable_bytes_per_s": s(self.host_to_device_pageable_bytes_per_s),
            "matmul_flops_per_s": None if self.matmul_flops_per_s is None
            else {k: s(v) for k, v in self.matmul_flops_per_s.items()},
            "op_overhead_s": s(self.op_overhead_s),
            "conv_train_flops_per_s": None if self.conv_train_flops_per_s is None
            else {k: s(v) for k, v in self.conv_train_flops_per_s.items()},
        }

    @classmethod
    def from_dict(cls, d: dict) -> MicroBenchmarks:
        def s(x):
            return None if x is None else Samples(tuple(x["values"]))

        mm = d.get("matmul_flops_per_s")
        conv = d.get("conv_train_flops_per_s")
        return cls(
            host_memory_bytes_per_s=s(d["host_memory_bytes_per_s"]),
            device_memory_bytes_per_s=s(d.get("device_memory_bytes_per_s")),
            host_to_device_pinned_bytes_per_s=s(d.get("host_to_device_pinned_bytes_per_s")),
            host_to_device_pageable_bytes_per_s=s(d.get("host_to_device_pageable_bytes_per_s")),
            matmul_flops_per_s=None if mm is None else {k: s(v) for k, v in mm.items()},
            op_overhead_s=s(d.get("op_overhead_s")),
            conv_train_flops_per_s=None if conv is None else {k: s(v) for k, v in conv.items()},
        )
