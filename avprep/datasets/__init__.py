"""Dataset adapters, one module per corpus; importing this package registers them all."""

import importlib
import pkgutil

from avprep.datasets.base import REGISTRY, DatasetAdapter, DiscoverOptions, get_adapter

for _mod in pkgutil.iter_modules(__path__):
    if _mod.name not in ("base",):
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = ["REGISTRY", "DatasetAdapter", "DiscoverOptions", "get_adapter"]
