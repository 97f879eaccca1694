"""One name per setting, everywhere: the core's file key, flag and ``SESSION_CORE_<NAME>``
variable, the service's flag and ``SESSION_SERVICE_<NAME>`` variable (the tables of
docs/core.md and docs/operations.md list them by that name: tests/docs/test_settings_docs.py).
A variable with the prefix that names no setting is reported at start as a WARNING naming the
closest setting, never silently ignored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from session_core.cli import _parser as core_parser
from session_core.config import CONFIG_NAMES, CoreConfig, load_config, unknown_core_variables
from session_service.cli import build_parser as service_parser
from session_service.settings import (
    _DOMAIN_FIELD_SETTINGS,
    SETTING_NAMES,
    SettingsError,
    load_settings,
    unknown_service_variables,
)

BIN = Path(sys.executable).parent

# A valid value of every core setting that differs from its default, as text (what a flag
# or a variable carries) and as what the configuration holds once parsed.
CORE_SAMPLES: dict[str, tuple[str, object]] = {
    "host": ("127.0.0.2", "127.0.0.2"),
    "port": ("4567", 4567),
    "data_dir": ("/srv/sessions", Path("/srv/sessions")),
    "database": ("postgresql://u@db:5432/s", "postgresql://u@db:5432/s"),
    "access_token_validity": ("120", 120),
    "refresh_token_validity": ("100", 100.0),
    "access_token_dynamic_signing_key_update_interval": ("2", 2.0),
    "api_keys": ("k" * 20, ("k" * 20,)),
    "base_path": ("/core", "/core"),
    "dynamic_signing_key_overlap_ms": ("1000", 1000),
    "expired_session_cleanup_interval_s": ("60", 60.0),
    "log_level": ("debug", "debug"),
    "log_format": ("json", "json"),
    "tracing": ("console", "console"),
}


def test_every_core_setting_is_a_file_key_a_flag_and_a_variable(tmp_path: Path) -> None:
    assert set(CORE_SAMPLES) == set(CONFIG_NAMES)
    flags = {action.dest: action.option_strings for action in _serve_actions(core_parser())}
    for name, (text, parsed) in CORE_SAMPLES.items():
        assert flags[name] == [f"--{name.replace('_', '-')}"], name
        args = core_parser().parse_args(["serve", f"--{name.replace('_', '-')}", text])
        from_flag = load_config(flags={name: getattr(args, name)}, env={})
        from_env = load_config(env={f"SESSION_CORE_{name.upper()}": text})
        config_file = tmp_path / f"{name}.json"
        config_file.write_text(json.dumps({name: text}))
        from_file = load_config(env={}, config_file=config_file)
        for config in (from_flag, from_env, from_file):
            assert getattr(config, name) == parsed, name
        assert getattr(CoreConfig(), name) != parsed, f"{name}: pick a non-default sample"


def test_every_service_setting_is_a_flag_and_a_variable() -> None:
    flags = {action.dest: action.option_strings for action in _serve_actions(service_parser())}
    for name in SETTING_NAMES:
        assert flags[name] == [f"--{name.replace('_', '-')}"], name
    # The variable of each is read under that name (one that parses whatever the type).
    settings = load_settings({}, {"SESSION_SERVICE_API_BASE_PATH": "/sessions"})
    assert settings.api_base_path == "/sessions"


def test_domain_errors_are_reported_by_the_flag_of_their_setting() -> None:
    """The DomainConfig fields renamed from settings map to settings that exist (their
    flags name the errors; tests/test_startup_errors.py runs the command)."""
    assert set(_DOMAIN_FIELD_SETTINGS.values()) <= set(SETTING_NAMES)
    with pytest.raises(SettingsError, match=r"^--core-url: every entry must be an http"):
        load_settings({"core_url": "core:3567"}, {}).domain_config()


def _serve_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options of ``parser``'s ``serve`` command."""
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert isinstance(subparsers.choices, dict)
    return list(subparsers.choices["serve"]._actions)


@pytest.mark.parametrize(
    ("variable", "warning"),
    [
        (
            "SESSION_CORE_DATABASE_URL",
            "ignoring unknown environment variable SESSION_CORE_DATABASE_URL "
            "(did you mean SESSION_CORE_DATABASE?)",
        ),
        (
            "SESSION_CORE_APIKEYS",
            "ignoring unknown environment variable SESSION_CORE_APIKEYS "
            "(did you mean SESSION_CORE_API_KEYS?)",
        ),
        ("SESSION_CORE_X", "ignoring unknown environment variable SESSION_CORE_X"),
    ],
)
def test_unknown_core_variables_are_named_with_the_closest_setting(
    variable: str, warning: str
) -> None:
    known = {"SESSION_CORE_DATABASE": "sqlite:///x.db", "SESSION_CORE_CONFIG": "c.json"}
    assert unknown_core_variables({**known, variable: "x", "OTHER_THING": "y"}) == [warning]
    assert unknown_core_variables(known) == []


def test_unknown_service_variables_are_named_with_the_closest_setting() -> None:
    env = {"SESSION_SERVICE_CORE_URLS": "http://core", "SESSION_SERVICE_CORE_URL": "http://c"}
    assert unknown_service_variables(env) == [
        "ignoring unknown environment variable SESSION_SERVICE_CORE_URLS "
        "(did you mean SESSION_SERVICE_CORE_URL?)"
    ]
    # The core's variables are not the service's business, and the reverse.
    assert unknown_service_variables({"SESSION_CORE_DATABASE_URL": "x"}) == []
    assert unknown_core_variables({"SESSION_SERVICE_PORTT": "1"}) == []


async def _stderr_until(process: asyncio.subprocess.Process, pattern: str) -> list[str]:
    """Lines of ``process``'s stderr up to the first one matching ``pattern``."""
    assert process.stderr is not None
    lines: list[str] = []
    async with asyncio.timeout(60):
        while not lines or not re.search(pattern, lines[-1]):
            line = (await process.stderr.readline()).decode()
            assert line, "exited early:\n" + "".join(lines)
            lines.append(line)
    return lines


async def _stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(60):
        return await process.wait()


async def test_session_core_reads_session_core_database_and_warns_about_the_old_name(
    tmp_path: Path,
) -> None:
    """``SESSION_CORE_DATABASE`` chooses the database (before, the core quietly used
    SQLite under .data); ``SESSION_CORE_DATABASE_URL`` is reported, not used."""
    chosen, other = tmp_path / "chosen.db", tmp_path / "other.db"
    process = await asyncio.create_subprocess_exec(
        str(BIN / "session-core"),
        "serve",
        "--port",
        "0",
        "--log-format",
        "text",
        env={
            **os.environ,
            "SESSION_CORE_DATABASE": f"sqlite:///{chosen}",
            "SESSION_CORE_DATABASE_URL": f"sqlite:///{other}",
        },
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        lines = await _stderr_until(process, r"^session-core listening on ")
    finally:
        assert await _stop(process) == 0
    warnings = [line for line in lines if "WARNING" in line]
    assert len(warnings) == 1, lines
    assert (
        warnings[0]
        .rstrip()
        .endswith(
            "ignoring unknown environment variable SESSION_CORE_DATABASE_URL "
            "(did you mean SESSION_CORE_DATABASE?)"
        )
    )
    assert chosen.is_file()
    assert not other.exists() and not (tmp_path / ".data").exists()


async def test_session_service_warns_about_an_unknown_variable(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        str(BIN / "session-service"),
        "serve",
        "--port",
        "0",
        "--log-format",
        "text",
        "--data-dir",
        str(tmp_path / "data"),
        env={**os.environ, "SESSION_SERVICE_GRACE_PERIOD": "1"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        # (SERVING is logged once the signal handlers are in place)
        lines = await _stderr_until(process, r"readiness: SERVING")
    finally:
        assert await _stop(process) == 0
    warnings = [line for line in lines if "WARNING" in line]
    assert len(warnings) == 1, lines
    assert (
        warnings[0]
        .rstrip()
        .endswith(
            "ignoring unknown environment variable SESSION_SERVICE_GRACE_PERIOD "
            "(did you mean SESSION_SERVICE_GRACE_PERIOD_SECONDS?)"
        )
    )
