"""Dataset adapters, one module per corpus; importing this package registers them all."""

import importlib
import pkgutil

from avprep.datasets.base import REGISTRY, DatasetAdapter, DiscoverOptions

for _mod in pkgutil.iter_modules(__path__):
    if _mod.name not in ("base",):
        importlib.import_module(f"{__name__}.{_mod.name}")


def get_adapter(name: str) -> DatasetAdapter:
    """A fresh adapter for the corpus called ``name``; unknown names list the known ones."""
    try:
        return REGISTRY[name]()
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown dataset {name!r}; known: {known}") from None


__all__ = ["REGISTRY", "DatasetAdapter", "DiscoverOptions", "get_adapter"]
