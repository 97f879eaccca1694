"""Which tests start processes (``process``) or use the SuperTokens SDK (``sdk``), found
from the test code itself by tests/conftest.py.

A function starts processes when it calls ``subprocess.run/Popen/check_output/...`` or
``asyncio.create_subprocess_exec/shell``, or uses (calls, or passes on) a function or class
that does: one of its own module (``_serve``, ``ServiceProcess``), or one it imports from
another module of ``tests`` or ``testkit`` (``running_service``, ``core_process``). A
function uses the SDK when it uses anything imported from ``tests.sdk`` or
``testkit.sdk_venv``. A test is marked when it, or a fixture of its module that it takes,
does. Static, so ``-m "not process"`` costs nothing at run time; helpers reached only
through objects are not followed.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

_SUBPROCESS_CALLS = frozenset({"run", "Popen", "call", "check_call", "check_output"})
_ASYNCIO_CALLS = frozenset({"create_subprocess_exec", "create_subprocess_shell"})
_OURS = ("tests.", "testkit.")
_SDK = ("tests.sdk", "testkit.sdk_venv")


@dataclass(frozen=True)
class Uses:
    """Names (functions, classes, imports) of a module that start processes or use the SDK."""

    process: frozenset[str]
    sdk: frozenset[str]


def _references(definition: ast.AST) -> tuple[set[str], bool]:
    """(names the definition uses, whether it calls a process primitive itself)."""
    names: set[str] = set()
    primitive = False
    for node in ast.walk(definition):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else ""
            if node.func.attr in _ASYNCIO_CALLS or (
                owner_name == "subprocess" and node.func.attr in _SUBPROCESS_CALLS
            ):
                primitive = True
    return names, primitive


def _closure(seeds: set[str], references: dict[str, set[str]]) -> frozenset[str]:
    found = set(seeds)
    changed = True
    while changed:
        changed = False
        for name, used in references.items():
            if name not in found and used & found:
                found.add(name)
                changed = True
    return frozenset(found)


@functools.cache
def uses(path: Path) -> Uses:
    tree = ast.parse(path.read_text(), str(path))
    references: dict[str, set[str]] = {}
    process: set[str] = set()
    sdk: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(_OURS):
            local = {alias.name: alias.asname or alias.name for alias in node.names}
            if node.module.startswith(_SDK):
                sdk.update(local.values())
            spec = importlib.util.find_spec(node.module)
            if spec is not None and spec.origin is not None:
                imported = uses(Path(spec.origin))
                process.update(v for k, v in local.items() if k in imported.process)
                sdk.update(v for k, v in local.items() if k in imported.sdk)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            references[node.name], primitive = _references(node)
            if primitive:
                process.add(node.name)
    return Uses(_closure(process, references), _closure(sdk, references))
