"""Lazy package exports (PEP 562): a package names what its submodules define without
importing them, so that a job importing one light submodule (a table, a figure) does not
pay for torch through its siblings."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, list[str]]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose names live in submodules.

    exports: relative submodule name (".engine") -> the names it provides. A name is
    imported from its submodule on first access, then cached in the package.
    """
    where = {name: module for module, names in exports.items() for name in names}
    duplicated = sum(len(names) for names in exports.values()) - len(where)
    if duplicated:
        raise ValueError(f"{package}: {duplicated} exported names are listed under two submodules")

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name], package), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(where) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__
