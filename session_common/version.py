"""The version both commands report (``--version``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

# Both commands (session-core and session-service) ship in this one distribution.
DISTRIBUTION = "session-service"


def installed_version() -> str:
    """The version of the installed distribution."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "unknown (not installed)"
