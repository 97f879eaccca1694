"""A CDI 2.21-compatible session core (SuperTokens Core Driver Interface) over HTTP."""

from importlib.metadata import PackageNotFoundError, version

# Both commands (session-core and session-service) ship in this one distribution.
DISTRIBUTION = "session-service"


def installed_version() -> str:
    """The version of the installed distribution (``--version`` of both commands)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "unknown (not installed)"
