"""The settings tables of the docs say what the code defines, so they cannot drift.

``docs/operations.md`` lists every ``session-service serve`` flag with its default (each flag
is also ``SESSION_SERVICE_<NAME>``, a rule the page states); ``docs/core.md`` lists every
core setting by its one name (file key, ``--flag`` and ``SESSION_CORE_<NAME>`` variable, a
rule the page states; tests/test_configuration_names.py checks that the code follows it) with
its aliases and default. Names and defaults are read from the code: the CLI parsers and the
settings dataclasses.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

from session_core import cli as core_cli
from session_core.config import ALIASES, CONFIG_NAMES, CoreConfig
from session_proto.session.v1 import session_service_pb2 as pb
from session_service import cli as service_cli
from session_service.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
_CODE = re.compile(r"`([^`]*)`")


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The cells of the first table after ``heading`` (header and separator dropped)."""
    section = markdown[markdown.index(heading) :]
    rows: list[list[str]] = []
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
        elif rows:
            break
    return rows[2:]


def options_of(parser: argparse.ArgumentParser, command: str) -> set[str]:
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve = commands.choices[command]
    return {
        o for action in serve._actions for o in action.option_strings if o not in ("-h", "--help")
    }


def same_default(documented: str, value: object) -> bool:
    """A documented default (its first `code` span, or its first word) against the code's."""
    code = _CODE.findall(documented)
    text = code[0] if code else documented.split(maxsplit=1)[0]
    if value in (None, "", ()):
        return text in ("unset", "none", '""')
    if isinstance(value, bool):
        return text == str(value).lower()
    if isinstance(value, int | float):
        try:
            return float(text.replace(",", "")) == float(value)
        except ValueError:
            return False
    return text == str(getattr(value, "value", value))


def test_every_service_flag_is_documented_with_its_default() -> None:
    operations = (DOCS / "operations.md").read_text(encoding="utf-8")
    assert "`SESSION_SERVICE_<NAME>`" in operations  # the environment rule (settings.py) is stated
    documented: dict[str, str] = {}
    for flags, default, *_ in table_rows(operations, "### Service (`session-service serve`)"):
        names = _CODE.findall(flags)
        defaults = [d.strip() for d in default.split(",")]
        if len(defaults) == 1:  # one default for all (e.g. "unset")
            defaults *= len(names)
        assert len(defaults) == len(names), f"one default per flag: {flags} | {default}"
        documented.update(zip(names, defaults, strict=True))
    expected = options_of(service_cli.build_parser(), "serve")
    assert set(documented) == expected, (
        f"undocumented: {sorted(expected - set(documented))}, "
        f"not flags: {sorted(set(documented) - expected)}"
    )
    for field in dataclasses.fields(Settings):
        flag = f"--{field.name.replace('_', '-')}"
        assert same_default(documented[flag], field.default), (flag, documented[flag])
    # Other tables of the page name only flags that exist (the healthcheck's are in prose).
    named = {
        name
        for line in operations.splitlines()
        if line.startswith("| `")
        for name in _CODE.findall(line.split("|")[1])
        if name.startswith("--")
    }
    assert named <= expected, sorted(named - expected)


def test_every_core_setting_is_documented_with_its_aliases_and_default() -> None:
    core = (DOCS / "core.md").read_text(encoding="utf-8")
    # The one-name rule, which makes the flag and the variable of each row.
    for rule in ("`access_token_validity`", "`--access-token-validity`"):
        assert rule in core
    assert "`SESSION_CORE_ACCESS_TOKEN_VALIDITY`" in core and "`SESSION_CORE_CONFIG`" in core
    rows = {
        _CODE.findall(key)[0]: (key, default)
        for key, default, _rule in table_rows(core, "## Configuration")
    }
    assert set(rows) == set(CONFIG_NAMES), sorted(set(rows) ^ set(CONFIG_NAMES))
    assert options_of(core_cli._parser(), "serve") == {"--config"} | {
        f"--{name.replace('_', '-')}" for name in CONFIG_NAMES
    }
    defaults = {f.name: f.default for f in dataclasses.fields(CoreConfig)}
    for name, (key, default) in rows.items():
        if name != "database":  # computed from data_dir, checked below
            assert same_default(default, defaults[name]), (name, default)
        aliases = [alias for alias, target in ALIASES.items() if target == name]
        assert _CODE.findall(key)[1:] == aliases, name
    data_dir = Path("some-dir")
    assert _CODE.findall(rows["database"][1]) == ["sqlite:///<data_dir>/core.db"]
    assert CoreConfig(data_dir=data_dir).database == f"sqlite:///{data_dir.resolve()}/core.db"


def test_every_status_is_documented_with_its_name_on_the_wire() -> None:
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    rows = table_rows(api, "## Outcomes are data, failures are codes")
    documented = {_CODE.findall(wire)[0]: _CODE.findall(short)[0] for short, wire, *_ in rows}
    wire_names = {value.name for value in pb.SessionStatus.DESCRIPTOR.values} - {
        "SESSION_STATUS_UNSPECIFIED"
    }
    assert set(documented) == wire_names
    assert all(wire == f"SESSION_STATUS_{short}" for wire, short in documented.items())
