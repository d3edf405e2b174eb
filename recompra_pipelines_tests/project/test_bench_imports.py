"""The benches are not run by `make test`, so a renamed product name would break `make bench` or
`make bench-fleet` silently; importing every bench module here catches it."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# bench/dlt runs in its own virtualenv (dlt is not a product dependency).
OWN_ENVIRONMENT = ("bench.dlt",)


def _bench_modules() -> list[str]:
    import bench

    names = [
        module.name
        for module in pkgutil.walk_packages([str(ROOT / "bench")], prefix="bench.")
        if not module.name.startswith(OWN_ENVIRONMENT) and not module.name.endswith("__main__")
    ]
    assert bench and names
    return sorted(names)


@pytest.mark.parametrize("name", _bench_modules())
def test_every_bench_module_imports(name):
    importlib.import_module(name)
