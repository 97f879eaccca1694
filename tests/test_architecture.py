"""The layout's rules, checked on the real source files with ``ast`` (nothing is imported).

* Layers, low to high: a module imports only modules of its own layer or lower ones.
  ``session_common`` imports neither process; ``session_core`` imports only
  ``session_common``; in ``session_service`` only ``embedded_core.py`` imports
  ``session_core``; nothing below the transport imports gRPC, protobuf or aiohttp's server.
* No import cycles (imports inside functions count: a lazy import is still a loop).
* No Python file of ours over ``MAX_LINES`` lines (generated code is not ours).

Today's exceptions are listed in the ``PENDING_*`` tables, each exactly: a check fails when
an exception appears that is not listed, and when a listed one no longer exists, so the
tables only shrink.
"""

from __future__ import annotations

import ast
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("session_common", "session_core", "session_service")
MAX_LINES = 400
T = TypeVar("T")

# Low to high. A module belongs to the layer of the longest name that is it or a package
# holding it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("session_common",),
    (
        "session_service.domain.errors",
        "session_service.domain.types",
        "session_service.domain.limits",
    ),
    ("session_service.core_client",),
    ("session_service.domain",),
    (
        "session_service.settings",
        "session_service.gateway_settings",
        "session_service.revocation_settings",
        "session_service.core_settings",
    ),
    ("session_service.transport",),
    ("session_service.embedded_core",),
    (
        "session_service.server",
        "session_service.workers",
        "session_service.cli",
        "session_service.__main__",
        "session_service.healthcheck",
    ),
)
# The only module of session_service that may import session_core.
EMBEDDED_CORE = "session_service.embedded_core"
# What only the transport and the layers above it may import.
FRAMEWORKS = (
    "grpc",
    "grpc_health",
    "grpc_reflection",
    "grpc_status",
    "google.protobuf",
    "session_proto",
    "aiohttp.web",
)
TRANSPORT = LAYERS.index(("session_service.transport",))

# -- today's exceptions --------------------------------------------------------------------

# Modules that have no room in the layout yet, and the layer each is bound for (it is judged
# as a module of that layer).
PENDING_MOVES: dict[str, str] = {}
# (importer, imported) pairs against the layer order.
PENDING_LAYER_VIOLATIONS: set[tuple[str, str]] = set()
# Modules of session_service other than embedded_core that import session_core.
PENDING_CORE_IMPORTS: set[tuple[str, str]] = set()
# (importer, framework) pairs below the transport.
PENDING_FRAMEWORK_IMPORTS: set[tuple[str, str]] = set()
# Each import cycle, as the set of modules in it.
PENDING_CYCLES: set[frozenset[str]] = set()
# Files (relative to the repository) over MAX_LINES lines.
PENDING_LARGE_FILES: set[str] = set()


# -- reading the sources -------------------------------------------------------------------


@cache
def our_modules() -> dict[str, Path]:
    """Module name -> file, for every module of our three packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imported_names(tree: ast.Module, module: str, is_package: bool) -> Iterator[str]:
    """Every module name an import statement anywhere in ``tree`` names; for ``from X
    import y`` both ``X`` and ``X.y`` (``y`` may be a module)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                if not is_package:
                    package = package[:-1]
                anchor = package[: len(package) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base == "__future__":
                continue
            yield base
            for alias in node.names:
                yield f"{base}.{alias.name}"


@cache
def imports_of(module: str) -> frozenset[str]:
    """What ``module`` imports: our modules (the most specific name that is one of ours)
    and, for anything else, every name its import statements give."""
    path = our_modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    ours = our_modules()
    found = set()
    for name in _imported_names(tree, module, path.name == "__init__.py"):
        if name.split(".")[0] not in PACKAGES:
            found.add(name)
            continue
        target = name
        while target not in ours and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in ours and target != module:
            found.add(target)
    return frozenset(found)


def internal_imports(module: str) -> frozenset[str]:
    return frozenset(name for name in imports_of(module) if name in our_modules())


def layer_of(module: str) -> int | None:
    """The index in LAYERS of ``module``'s layer (None: session_core, or no room yet)."""
    module = PENDING_MOVES.get(module, module)
    best: tuple[int, int] | None = None
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (
                best is None or len(name) > best[1]
            ):
                best = (index, len(name))
    return None if best is None else best[0]


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


# -- the checks ----------------------------------------------------------------------------


def _exactly(found: set[T], pending: set[T], what: str) -> None:
    new = found - pending
    gone = pending - found
    assert not new, f"{what} not allowed: {sorted(map(str, new))}"
    assert not gone, f"{what} listed as pending but fixed; remove: {sorted(map(str, gone))}"


def test_every_service_module_has_a_room_in_the_layers() -> None:
    service = [m for m in our_modules() if _in(m, "session_service") and m != "session_service"]
    unplaced = sorted(m for m in service if layer_of(m) is None)
    assert not unplaced, f"modules with no layer (add them to LAYERS or move them): {unplaced}"
    moved = sorted(m for m in PENDING_MOVES if m not in our_modules())
    assert not moved, f"PENDING_MOVES entries for modules that no longer exist: {moved}"
    for module, target in PENDING_MOVES.items():
        assert any(target in names for names in LAYERS), f"{module}: no layer {target}"


def test_imports_follow_the_layer_order() -> None:
    found = set()
    for module in our_modules():
        own = layer_of(module)
        if own is None:
            continue
        for imported in internal_imports(module):
            theirs = layer_of(imported)
            if theirs is not None and theirs > own:
                found.add((module, imported))
    _exactly(found, PENDING_LAYER_VIOLATIONS, "imports of a higher layer")


def test_session_common_imports_neither_process() -> None:
    found = {
        (module, imported)
        for module in our_modules()
        if _in(module, "session_common")
        for imported in internal_imports(module)
        if not _in(imported, "session_common")
    }
    assert not found


def test_session_core_imports_only_itself_and_session_common() -> None:
    found = {
        (module, imported)
        for module in our_modules()
        if _in(module, "session_core")
        for imported in internal_imports(module)
        if _in(imported, "session_service")
    }
    assert not found


def test_only_embedded_core_imports_session_core() -> None:
    found = {
        (module, imported)
        for module in our_modules()
        if _in(module, "session_service") and module != EMBEDDED_CORE
        for imported in internal_imports(module)
        if _in(imported, "session_core")
    }
    _exactly(found, PENDING_CORE_IMPORTS, "session_core imports")


def test_nothing_below_the_transport_imports_grpc_protobuf_or_a_web_server() -> None:
    found = set()
    for module in our_modules():
        own = layer_of(module)
        if own is None or own >= TRANSPORT:
            continue
        for name in imports_of(module):
            for framework in FRAMEWORKS:
                if _in(name, framework):
                    found.add((module, framework))
    _exactly(found, PENDING_FRAMEWORK_IMPORTS, "framework imports")


def _cycles() -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm,
    with an explicit stack)."""
    graph = {module: sorted(internal_imports(module)) for module in our_modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: set[frozenset[str]] = set()
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, edge = work.pop()
            if edge == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            if edge < len(graph[node]):
                work.append((node, edge + 1))
                child = graph[node][edge]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.add(frozenset(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def test_no_import_cycles() -> None:
    _exactly(_cycles(), PENDING_CYCLES, "import cycles")


def _python_files() -> list[str]:
    """Our Python files: tracked or new, not ignored (generated code is ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "*.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return [name for name in listed if (ROOT / name).is_file()]


def test_no_file_is_over_the_size_bound() -> None:
    found = set()
    for name in _python_files():
        with (ROOT / name).open(encoding="utf-8") as file:
            if sum(1 for _ in file) > MAX_LINES:
                found.add(name)
    _exactly(found, PENDING_LARGE_FILES, f"files over {MAX_LINES} lines")


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("session_common.clock", 0),
        ("session_service.domain.errors", 1),
        ("session_service.domain.verifier", 3),
        ("session_service.core_client.client", 2),
        ("session_service.settings", 4),
        ("session_service.cli", len(LAYERS) - 1),
        ("session_core.sessions", None),
    ],
)
def test_the_layer_of_a_module_is_its_longest_matching_name(
    module: str, expected: int | None
) -> None:
    assert layer_of(module) == expected


def test_imports_are_resolved_to_our_most_specific_module() -> None:
    # ``from session_common.clock import Clock`` is an import of the module, not of Clock.
    assert "session_common.clock" in internal_imports("session_core.sessions")
    assert "session_core.storage.base" in internal_imports("session_core.storage.sqlite.storage")
