"""The cloud catalog: GPU datasheets, interconnects and offers read from the TOML files in
`data/`, with one loader (`load_catalog`) and pure functions over the loaded tables; its public
front is advisor.cloud.catalog, and offer_cost prices a run."""

from advisor.cloud.catalog import *  # noqa: F403 -- the front module's names are the package's
from advisor.cloud.catalog import __all__ as _front
from advisor.cloud.pricing import offer_cost

__all__ = [*_front, "offer_cost"]
