"""`dlbasic.segmentation` and `dlbasic.detection` import their public names when first used: each name is the
object its home module defines, whichever submodules were imported before (a submodule sharing a public name
would shadow it)."""

import importlib
import pkgutil
import types

import pytest


@pytest.mark.parametrize("package", ["dlbasic.segmentation", "dlbasic.detection"])
def test_every_public_name_is_its_object_after_every_submodule_is_imported(package):
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, f"{package}."):
        importlib.import_module(info.name)
    for name in pkg.__all__:
        value = getattr(pkg, name)
        assert not isinstance(value, types.ModuleType), f"{package}.{name} is a module"
        assert value is getattr(importlib.import_module(pkg._HOMES[name]), name)
