"""The settings of the session core the service uses: a core reached at ``--core-url``, or the
embedded core started in-process when none is given (``embedded_core.py``). A group of the
service's ``Settings`` (its base class), read like every other setting; listed in ``--help``
under its ``HELP_GROUP``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from session_common.config_loading import ConfigError, setting
from session_service.core_client.config import ClientCertificate


# Not slotted: ``Settings`` inherits from other groups as well, and two slotted bases
# cannot be combined.
@dataclass(frozen=True, kw_only=True)
class CoreSettings:
    """The core group of ``Settings``; ``check_core_settings`` checks what one field
    cannot alone."""

    # The title of these flags' group in ``--help``.
    HELP_GROUP: ClassVar[str] = "Session core"

    core_url: str = setting(
        "",
        "session core URL(s), ';'-separated; empty starts an embedded core with SQLite under "
        "--data-dir",
    )
    core_api_key: str | None = setting(
        None,
        "API key for the --core-url core (prefer the environment variable); the embedded core"
        " gets a new random one at each start",
        secret=True,
    )
    core_timeout_seconds: float = setting(5.0, "upper bound of every core HTTP call")
    core_max_connections: int = setting(
        100,
        "core requests on the wire at once (per serving process); more calls wait for one "
        "within their deadline, then get RESOURCE_EXHAUSTED",
    )
    core_ca_file: Path | None = setting(
        None, "PEM CA bundle trusted for https core URLs (default: system CAs)"
    )
    core_client_cert_file: Path | None = setting(
        None, "PEM client certificate for mutual TLS to the core"
    )
    core_client_key_file: Path | None = setting(None, "PEM private key of --core-client-cert-file")
    data_dir: Path = setting(Path(".data"), "where the embedded core keeps core.db")
    core_database: str = setting(
        "",
        "database of the embedded core: sqlite:///path or postgresql://user@host:port/db; "
        "empty: core.db under --data-dir",
        secret=True,
    )

    @property
    def embedded_core(self) -> bool:
        """No core URL given: the service runs the project's core in-process."""
        return not self.core_url.strip()

    def core_client_certificate(self) -> ClientCertificate | None:
        """The client certificate for mutual TLS to the core, when both files are given."""
        cert, key = self.core_client_cert_file, self.core_client_key_file
        return None if cert is None or key is None else ClientCertificate(cert, key)

    def check_core_settings(self, error: type[ConfigError]) -> None:
        """Refuse settings that contradict each other (``error`` names the flag)."""
        if self.core_api_key is not None and self.embedded_core:
            raise error(
                "--core-api-key is for --core-url (the embedded core gets a new random key "
                "at each start)"
            )
        if self.core_database and not self.embedded_core:
            raise error("--core-database is for the embedded core (not with --core-url)")
        if self.core_database and not self.core_database.startswith(
            ("sqlite://", "postgresql://", "postgres://")
        ):
            raise error("--core-database must start with sqlite:// or postgresql://")
