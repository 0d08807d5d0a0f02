"""Finding designs: built-in names, the ``seed`` set, and users' design files.

A design file is a Python file that defines ``DESIGNS``, a list of classes that follow the
design protocol (``docs/designs/protocol.md``), each with a ``name``.  Built-in and user designs
go through the same door: both become :class:`~properties.catalogue.DesignRef` values.

A design file is imported as a module of a package made of its folder, with the folder on the
import path while it imports: it may import helpers of its own folder, relatively (``from .common
import X``) or by name (``import common``).  Its ``saves_against`` may name a design of the same
file (:func:`properties.dyndbg_machine.saves_against_class`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
import types
from pathlib import Path
from typing import Any

from model.errors import InputError
from properties.catalogue import DesignRef


def builtin_designs() -> dict[str, Any]:
    """Every built-in design class by name (from ``model.designs``)."""
    import model.designs as designs

    return dict(designs.builtin_designs())


def seed_design_names() -> tuple[str, ...]:
    """The designs of the 2020 series, in the order the series proposed them."""
    import model.designs as designs

    return tuple(designs.SEED_DESIGNS)


def _import_error_line(path: Path, exc: BaseException) -> InputError:
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if Path(f.filename).resolve() == path.resolve()]
    line = frames[-1].lineno if frames else getattr(exc, "lineno", None)
    msg = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return InputError(f"design file does not import: {type(exc).__name__}: {msg}",
                      path=str(path), line=line)


def _folder_package(folder: Path) -> str:
    """A package standing for ``folder`` (made once), so a design file's relative imports
    find its neighbours."""
    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:12]
    name = f"dyndiet_user_designs_{digest}"
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [str(folder)]
        package.__file__ = str(folder / "__init__.py")
        sys.modules[name] = package
    return name


def load_design_file(path: str | Path) -> list[DesignRef]:
    """The designs a user's file defines; :class:`InputError` (file and line) if it cannot."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such design file", path=str(p))
    folder = p.resolve().parent
    package = _folder_package(folder)
    modname = f"{package}." + "".join(c if c.isalnum() else "_" for c in p.stem)
    spec = importlib.util.spec_from_file_location(modname, p)
    if spec is None or spec.loader is None:
        raise InputError("not a Python file", path=str(p))
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[modname]
        raise _import_error_line(p, exc) from None
    finally:
        if sys.path and sys.path[0] == str(folder):
            del sys.path[0]
    designs = getattr(module, "DESIGNS", None)
    if not designs:
        raise InputError("defines no designs (expected a list DESIGNS of design classes)",
                         path=str(p))
    refs = []
    for cls in designs:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise InputError(f"design {cls!r} has no name", path=str(p))
        refs.append(DesignRef(name, str(p), cls))
    return refs


def resolve_design(name: str, path: str | None = None) -> DesignRef:
    """One design: a built-in ``name``, or the design called ``name`` in the file ``path``."""
    if path is not None:
        for ref in load_design_file(path):
            if ref.name == name:
                return ref
        raise InputError(f"defines no design named {name!r}", path=path)
    builtin = builtin_designs()
    if name not in builtin:
        raise InputError(f"unknown design {name!r} (built-in: {', '.join(builtin)})")
    return DesignRef(name, "built-in", builtin[name])


def resolve_designs(args: list[str]) -> list[DesignRef]:
    """``dyndiet check`` arguments: names, ``seed``, ``all`` or paths (none means every
    built-in design)."""
    if not args:
        args = ["all"]
    refs: list[DesignRef] = []
    for arg in args:
        if arg.endswith(".py") or "/" in arg:
            refs.extend(load_design_file(arg))
        elif arg == "all":
            refs.extend(DesignRef(n, "built-in", c) for n, c in builtin_designs().items())
        elif arg == "seed":
            refs.extend(resolve_design(n) for n in seed_design_names())
        else:
            refs.append(resolve_design(arg))
    seen: set[tuple[str, str]] = set()
    unique = []
    for r in refs:
        if (r.name, r.source) not in seen:
            seen.add((r.name, r.source))
            unique.append(r)
    return unique
