"""One configuration mechanism for both processes.

A process declares its settings as a frozen dataclass (one field per setting, its default
the setting's default) and describes it with a ``Declaration``. Sources, highest precedence
first: command-line flags, ``<PREFIX><NAME>`` environment variables, a JSON or TOML file
(the core's ``--config``), the defaults. Every setting has one name, used everywhere: the
field and file key ``access_token_validity``, the flag ``--access-token-validity``, the
variable ``SESSION_CORE_ACCESS_TOKEN_VALIDITY``.

Values come as text from flags and the environment, and typed from a file. Each setting is
parsed by its field's type (``str``, ``int``, ``float``, ``bool``, ``Path``, and ``X | None``
of these: empty means unset, and so does ``none`` for a number) unless the declaration names
a parser of its own; a type without a parser fails the declaration, at import. An invalid
value raises the declaration's ``ConfigError`` naming the setting, which the commands print
in one line before exiting with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import json
import math
import re
import tomllib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Generic, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")
# A parser takes a value as a source gives it (text, or a typed value from a file) and
# returns the setting's value, or raises ValueError saying what is wrong with it.
Parser = Callable[[object], Any]


class ConfigError(ValueError):
    """A setting has an invalid value, or a source names no setting; the message says which."""


class Source(Enum):
    FLAG = "command-line flags"
    ENVIRONMENT = "environment"
    FILE = "config file"


# -- parsers by type -----------------------------------------------------------------------


def as_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value.strip()


def as_lowercase(value: object) -> str:
    """A word from a fixed list (a log level, a format), in any case."""
    return as_str(value).lower()


def as_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9]+\s*", value):
        return int(value)
    raise ValueError(f"must be an integer (got {value!r})")


def as_float(value: object) -> float:
    """A finite number (NaN would pass every comparison a check makes as false)."""
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            raise ValueError(f"must be a number (got {value!r})") from None
    else:
        raise ValueError(f"must be a number (got {value!r})")
    if not math.isfinite(result):
        raise ValueError("must be a finite number")
    return result


def as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
    raise ValueError(f"must be true or false (got {value!r})")


def as_path(value: object) -> Path:
    path = as_str(value)
    if not path:
        raise ValueError("must not be empty")
    return Path(path)


_BY_TYPE: dict[object, Parser] = {
    str: as_str,
    int: as_int,
    float: as_float,
    bool: as_bool,
    Path: as_path,
}


def _unset_or(parse: Parser, *, none_word: bool) -> Parser:
    """``parse`` for a setting that may be unset: an empty value (and for a number the
    word ``none``) means unset."""

    def parse_optional(value: object) -> Any:
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lower() in (
            ("", "none") if none_word else ("",)
        ):
            return None
        return parse(value)

    return parse_optional


def parser_for(hint: object) -> Parser | None:
    """The parser of a field type, or None when there is none."""
    if get_origin(hint) in (Union, types.UnionType):
        options = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(options) == 1 and len(get_args(hint)) == 2:
            parse = _BY_TYPE.get(options[0])
            if parse is not None:
                return _unset_or(parse, none_word=options[0] in (int, float))
        return None
    return _BY_TYPE.get(hint)


# -- declarations ----------------------------------------------------------------------------


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Declaration(Generic[T]):
    """How one process reads its settings, the fields of the dataclass ``settings``.

    ``parsers``: parsers of settings whose type does not say enough (a list given as
    text, a path that is a URL path); ``aliases``: older names still accepted (old ->
    name); ``required_when_given``: settings for which an empty value is an error, never
    "unset" (an unset secret substituted as "" must not turn a protection off), and which
    are therefore read from the environment even when empty; ``name_in_messages``: how an
    error names a setting given under ``given_as`` in ``source``.
    """

    settings: type[T]
    env_prefix: str
    error: type[ConfigError]
    name_in_messages: Callable[[str, Source], str]
    parsers: Mapping[str, Parser] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    required_when_given: frozenset[str] = frozenset()
    _by_name: dict[str, Parser] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        hints = get_type_hints(self.settings)
        by_name = {}
        for f in self.fields():
            parse = self.parsers.get(f.name) or parser_for(hints[f.name])
            if parse is None:
                raise TypeError(f"{self.settings.__name__}.{f.name}: no parser for its type")
            by_name[f.name] = parse
        named = {*self.parsers, *self.aliases.values(), *self.required_when_given}
        if not named <= by_name.keys():
            missing = sorted(named - by_name.keys())
            raise TypeError(f"{self.settings.__name__} has no settings {missing}")
        object.__setattr__(self, "_by_name", by_name)

    def fields(self) -> tuple[dataclasses.Field[Any], ...]:
        return dataclasses.fields(self.settings)  # type: ignore[arg-type]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields())

    def variable(self, name: str) -> str:
        return self.env_prefix + name.upper()

    def parse(
        self, given_as: str, value: object, source: Source, origin: str | None = None
    ) -> tuple[str, Any]:
        """The setting ``given_as`` names (itself or as an alias) and its parsed value;
        ``origin`` says where ``source`` is in a message (default: the source's name)."""
        name = self.aliases.get(given_as, given_as)
        where = self.name_in_messages(given_as, source)
        if name not in self._by_name:
            raise self.error(f"unknown setting {where} in {origin or source.value}")
        required = name in self.required_when_given
        if required and isinstance(value, str) and not value.strip():
            raise self.error(f"{where} is empty: give it a value, or leave it unset")
        try:
            parsed = self._by_name[name](value)
        except ValueError as exc:
            raise self.error(f"{where}: {exc}") from None
        if required and parsed in ((), None):
            raise self.error(f"{where} is empty: give it a value, or leave it unset")
        return name, parsed

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """The settings (and aliases) given as variables: an empty one counts as not given,
        except for the settings that refuse an empty value."""
        found = {}
        for given_as in (*self.names, *self.aliases):
            value = env.get(self.variable(given_as))
            name = self.aliases.get(given_as, given_as)
            if value is not None and (value != "" or name in self.required_when_given):
                found[given_as] = value
        return found

    def load(
        self,
        *,
        flags: Mapping[str, object] | None = None,
        env: Mapping[str, str],
        config_file: str | Path | None = None,
    ) -> T:
        """The settings from every source (flag > environment > file > default), checked by
        the dataclass. A flag or file value of None counts as not given."""
        sources: list[tuple[Source, str, Mapping[str, object]]] = []
        if config_file is not None:
            values = read_config_file(config_file, self.error)
            sources.append((Source.FILE, f"config file {config_file}", values))
        sources.append((Source.ENVIRONMENT, Source.ENVIRONMENT.value, self.environment(env)))
        sources.append((Source.FLAG, Source.FLAG.value, flags or {}))
        merged: dict[str, Any] = {}
        for source, origin, given in sources:
            for given_as, value in given.items():
                if value is not None:
                    name, parsed = self.parse(given_as, value, source, origin)
                    merged[name] = parsed
        return self.settings(**merged)

    def unknown_variables(self, env: Mapping[str, str], *also: str) -> list[str]:
        """One message per ``<PREFIX>*`` variable in ``env`` that names no setting (nor an
        alias, nor one of ``also``), naming the closest known variable when one is close."""
        known = [name.upper() for name in (*self.names, *self.aliases, *also)]
        messages = []
        for variable in sorted(v for v in env if v.startswith(self.env_prefix)):
            name = variable.removeprefix(self.env_prefix)
            if name in known:
                continue
            closest = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {self.env_prefix}{closest[0]}?)" if closest else ""
            messages.append(f"ignoring unknown environment variable {variable}{hint}")
        return messages

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """One ``--flag`` per setting, with the field's ``help`` metadata. Defaults are None so
        that an unset flag falls through to the other sources. The settings class's own
        fields come first; those a base class declares (a group of settings such as the
        gateway settings) follow in an argument group titled by its ``HELP_GROUP``."""
        groups: dict[type, list[dataclasses.Field[Any]]] = {self.settings: []}
        for f in self.fields():
            groups.setdefault(_declaring(self.settings, f.name), []).append(f)
        for cls, fields in groups.items():
            target: argparse._ActionsContainer = parser
            if cls is not self.settings:
                target = parser.add_argument_group(getattr(cls, "HELP_GROUP", cls.__name__))
            for f in fields:
                self._add_argument(target, f)

    def _add_argument(self, parser: argparse._ActionsContainer, f: dataclasses.Field[Any]) -> None:
        default = f.metadata.get("default_help") or _describe_default(f.default)
        parser.add_argument(
            flag_of(f.name),
            dest=f.name,
            default=None,
            metavar=f.name.upper(),
            help=f"{f.metadata.get('help', '')} (env {self.variable(f.name)}; default {default})",
        )


def _declared_in(cls: type) -> frozenset[str]:
    """The names of the fields ``cls`` itself declares (not its bases)."""
    return frozenset(inspect.get_annotations(cls))


def _declaring(cls: type, name: str) -> type:
    """The class of ``cls``'s MRO that declares field ``name``."""
    for klass in cls.__mro__:
        if name in _declared_in(klass):
            return klass
    return cls


def _describe_default(value: object) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if value in ((), None, ""):
        return "unset"
    return str(value)


def read_config_file(path: str | Path, error: type[ConfigError]) -> dict[str, object]:
    """The settings of a JSON or TOML (``*.toml``) file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise error(f"cannot read config file {p}: {exc.strerror}") from None
    try:
        if p.suffix.lower() == ".toml":
            data: object = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise error(
            f"config file {p} is not valid {p.suffix.lstrip('.') or 'JSON'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise error(f"config file {p} must hold an object/table of settings")
    return data


def setting(
    default: Any, help: str, *, default_help: str | None = None, secret: bool = False
) -> Any:
    """A settings dataclass field: its default, its ``--help`` text, how ``--help`` shows
    the default when ``default`` does not say it, and whether it is kept out of ``repr``
    (a key, a URL that may carry a password)."""
    metadata = (
        {"help": help} if default_help is None else {"help": help, "default_help": default_help}
    )
    return field(default=default, metadata=metadata, repr=not secret)
