"""The cloud catalog: GPU datasheets, interconnects and offers read from the TOML files in
`data/`, with one loader (`load_catalog`) and pure functions over the loaded tables."""

from advisor.cloud.catalog import (
                                   Catalog,
                                   CatalogError,
                                   GpuSpec,
                                   Interconnect,
                                   Offer,
                                   find_gpu,
                                   gpu_for_device_name,
                                   load_catalog,
)
from advisor.cloud.pricing import offer_cost

__all__ = ["Catalog", "CatalogError", "GpuSpec", "Interconnect", "Offer", "find_gpu", "gpu_for_device_name",
           "load_catalog", "offer_cost"]
