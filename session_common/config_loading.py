"""Configuration loading shared by the core and the service."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping


def unknown_variables(env: Mapping[str, str], prefix: str, names: Iterable[str]) -> list[str]:
    """One message per ``prefix*`` variable in ``env`` that is not ``prefix`` + one of
    ``names`` (upper-cased), naming the closest known variable when one is close."""
    known = [name.upper() for name in names]
    messages = []
    for variable in sorted(v for v in env if v.startswith(prefix)):
        name = variable.removeprefix(prefix)
        if name in known:
            continue
        closest = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {prefix}{closest[0]}?)" if closest else ""
        messages.append(f"ignoring unknown environment variable {variable}{hint}")
    return messages
