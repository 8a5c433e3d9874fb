"""The program's Pulumi components: the tailnet, the GPU hosts and the gateway (docs/architecture.md §2).

Pulumi stores each dynamic provider pickled by reference, module path included, in the state's inputs
and outputs, and reads the outputs' copy on `refresh` and `destroy`. Stacks deployed before the
providers moved under `host/` and `gateway/` name the old modules; `MOVED` keeps those names
importable, as aliases of the new ones, so such a stack still refreshes and destroys.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

MOVED = {
    "components.host_state": "components.host.host_state",
    "components.aperture": "components.gateway.aperture_config",
}
"""Old module path -> where it lives now (moved in the re-layout of issue 20)."""


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path as the module that replaced it (the same module object)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was imported under its new path."""


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
