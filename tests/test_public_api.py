"""Every name a module exports exists (``from lossnotes.<module> import *`` works)."""
import importlib
import pkgutil

import pytest

import lossnotes

MODULES = sorted(m.name for m in pkgutil.walk_packages(lossnotes.__path__, "lossnotes.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name):
    module = importlib.import_module(name)
    missing = [n for n in getattr(module, "__all__", []) if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists names it does not define: {missing}"
