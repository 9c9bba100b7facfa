"""Loading the Python modules that register custom objects.

Three ways in, all explicit:

- installed packages declare an entry point in the ``modelspec.plugins`` group;
  they are imported the first time a spec names a type that is not built in
  (so a spec using only built-in layers never pays for them);
- the user names modules: ``--plugin my_team.layers`` or
  ``build_model(..., plugins=["my_team.layers"])``;
- a spec lists ``imports:``, honoured only with ``--allow-imports`` /
  ``allow_imports=True``: a spec never runs code by itself.

Example:
    >>> load_plugins(["json"])  # any importable module
    ['json']
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable

from .errors import PluginError

ENTRY_POINT_GROUP = "modelspec.plugins"
_entry_points_loaded: list[str] | None = None


def import_module(module: str) -> None:
    """Import one module by dotted name.

    Raises:
        PluginError: It cannot be found, or raised while importing.
    """
    here = os.getcwd()
    if here not in sys.path:  # as `python -m` does: a project's own modules import
        sys.path.append(here)
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and module.startswith(err.name):
            raise PluginError(
                f"cannot import plugin module '{module}': no module named '{err.name}' in "
                f"this environment or in the current folder ({here}). Check the name, install "
                "its package, or run from the folder that holds it."
            ) from None
        raise PluginError(f"plugin module '{module}' failed to import: {err}") from err
    except Exception as err:  # a plugin's own bug: report it, do not crash
        raise PluginError(
            f"plugin module '{module}' raised while importing: {type(err).__name__}: {err}"
        ) from err


#: Modules the user named with ``--plugin`` (``plugins=``): a spec may list them in ``imports:``.
ALLOWED: set[str] = set()


def load_plugins(modules: Iterable[str]) -> list[str]:
    """Import the named plugin modules; returns their names."""
    loaded = []
    for module in modules:
        import_module(module)
        ALLOWED.add(module)
        loaded.append(module)
    return loaded


def has_entry_point_plugins() -> bool:
    """Whether any installed package declares a ``modelspec.plugins`` entry point."""
    from importlib.metadata import entry_points

    return bool(entry_points(group=ENTRY_POINT_GROUP))


def load_entry_point_plugins() -> list[str]:
    """Import every installed ``modelspec.plugins`` entry point, once per process."""
    from importlib.metadata import entry_points  # ~25 ms: only when a name is unknown

    global _entry_points_loaded
    if _entry_points_loaded is None:
        _entry_points_loaded = []
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                ep.load()
            except Exception as err:
                raise PluginError(
                    f"plugin entry point '{ep.name}' ({ep.value}) failed to load: "
                    f"{type(err).__name__}: {err}"
                ) from err
            _entry_points_loaded.append(ep.value)
    return list(_entry_points_loaded)
