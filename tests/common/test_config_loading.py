"""The configuration mechanism of both processes, on a small declaration of its own: parsers
from field types, precedence, empty values, aliases, unknown names, and declarations that
cannot work failing when they are made. (tests/test_configuration_names.py and the settings
tests check the two real declarations.)"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from session_common.config_loading import ConfigError, Declaration, Source, as_str, setting


class ToyError(ConfigError):
    pass


@dataclass(frozen=True, kw_only=True)
class Toy:
    name: str = setting("toy", "a name")
    count: int = setting(1, "a count")
    ratio: float = setting(0.5, "a ratio")
    enabled: bool = setting(False, "a switch")
    home: Path = setting(Path("."), "a directory")
    limit: int | None = setting(None, "an optional count")
    label: str | None = setting(None, "an optional name")
    secret_file: Path | None = setting(None, "a protection", secret=True)


def _where(name: str, source: Source) -> str:
    return f"{source.name}:{name}"


TOY = Declaration(
    Toy,
    env_prefix="TOY_",
    error=ToyError,
    name_in_messages=_where,
    aliases={"size": "count"},
    required_when_given=frozenset({"secret_file"}),
)


def test_values_are_parsed_by_the_field_type() -> None:
    toy = TOY.load(
        flags={"count": " 7 ", "ratio": "2.5", "enabled": "yes", "home": " /srv ", "limit": "3"},
        env={},
    )
    assert (toy.count, toy.ratio, toy.enabled, toy.home, toy.limit) == (
        7,
        2.5,
        True,
        Path("/srv"),
        3,
    )
    assert TOY.load(flags={"limit": "none", "label": " "}, env={}) == Toy()


def test_flags_beat_the_environment_beats_the_file_beats_the_default(tmp_path: Path) -> None:
    config = tmp_path / "toy.json"
    config.write_text(json.dumps({"name": "file", "count": 2, "ratio": 1}))
    env = {"TOY_NAME": "env", "TOY_COUNT": "3"}
    toy = TOY.load(flags={"name": "flag", "enabled": None}, env=env, config_file=config)
    assert (toy.name, toy.count, toy.ratio, toy.enabled) == ("flag", 3, 1.0, False)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"count": "1.5"}, r"^FLAG:count: must be an integer"),
        ({"count": "1_000"}, r"^FLAG:count: must be an integer"),
        ({"ratio": "nan"}, r"^FLAG:ratio: must be a finite number$"),
        ({"enabled": "maybe"}, r"^FLAG:enabled: must be true or false"),
        ({"home": " "}, r"^FLAG:home: must not be empty$"),
        ({"nothing": "1"}, r"^unknown setting FLAG:nothing in command-line flags$"),
        ({"secret_file": " "}, r"^FLAG:secret_file is empty: give it a value, or leave it unset"),
    ],
)
def test_an_invalid_value_is_an_error_naming_the_setting(
    given: dict[str, str], message: str
) -> None:
    with pytest.raises(ToyError, match=message):
        TOY.load(flags=given, env={})


def test_an_empty_variable_is_unset_unless_the_setting_refuses_empty_values() -> None:
    assert TOY.load(env={"TOY_COUNT": "", "TOY_LABEL": ""}) == Toy()
    with pytest.raises(ToyError, match=r"^ENVIRONMENT:secret_file is empty"):
        TOY.load(env={"TOY_SECRET_FILE": ""})


def test_an_alias_names_its_setting_everywhere(tmp_path: Path) -> None:
    assert TOY.load(env={"TOY_SIZE": "4"}).count == 4
    assert TOY.load(flags={"size": "5"}, env={}).count == 5
    config = tmp_path / "toy.toml"
    config.write_text("size = 6\n")
    assert TOY.load(env={}, config_file=config).count == 6


def test_unknown_variables_are_reported_with_the_closest_name() -> None:
    env = {"TOY_CONUT": "1", "TOY_SIZE": "1", "TOY_CONFIG": "x", "OTHER": "1"}
    assert TOY.unknown_variables(env, "config") == [
        "ignoring unknown environment variable TOY_CONUT (did you mean TOY_COUNT?)"
    ]


def test_a_file_that_cannot_be_read_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(ToyError, match="must hold an object"):
        TOY.load(env={}, config_file=tmp_path / "bad.json")
    with pytest.raises(ToyError, match="cannot read config file"):
        TOY.load(env={}, config_file=tmp_path / "missing.toml")


def test_a_declaration_that_cannot_read_a_setting_fails_when_it_is_made() -> None:
    @dataclass(frozen=True)
    class Listy:
        items: list[str] = setting((), "items")

    with pytest.raises(TypeError, match=r"Listy.items: no parser"):
        Declaration(Listy, env_prefix="L_", error=ConfigError, name_in_messages=_where)
    Declaration(
        Listy,
        env_prefix="L_",
        error=ConfigError,
        name_in_messages=_where,
        parsers={"items": lambda value: as_str(value).split(",")},
    )
    with pytest.raises(TypeError, match=r"has no settings \['nothing'\]"):
        Declaration(
            Toy,
            env_prefix="T_",
            error=ConfigError,
            name_in_messages=_where,
            required_when_given=frozenset({"nothing"}),
        )


def test_help_names_the_variable_and_the_default() -> None:
    parser = argparse.ArgumentParser()
    TOY.add_arguments(parser)
    helps = {action.dest: action.help for action in parser._actions}
    assert helps["count"] == "a count (env TOY_COUNT; default 1)"
    assert helps["label"] == "an optional name (env TOY_LABEL; default unset)"
    assert "secret_file" not in repr(Toy(secret_file=Path("/s")))
