"""The settings of the revocation feed's follower (docs/revocation.md): a group of the
service's ``Settings``, which inherits these fields, so each is a flag and a
``SESSION_SERVICE_*`` variable like any other setting. Their values are checked when the
follower's configuration is made (``revocation_config``), which ``start_service`` does
before anything starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from session_common.config_loading import ConfigError, flag_of, setting
from session_service.domain.api import FeedFailure, InvalidArgument, RevocationConfig

# RevocationConfig field (as InvalidArgument names it) -> the setting it comes from.
_FIELD_SETTINGS = {
    "revocations.max_lag_seconds": "revocation_feed_max_lag_seconds",
    "revocations.max_entries": "revocation_max_entries",
}


# Not slotted: ``Settings`` inherits from another group as well, and two slotted bases
# cannot be combined.
@dataclass(frozen=True, kw_only=True)
class RevocationSettings:
    """The revocation group of ``Settings``."""

    # The title of these flags' group in ``--help``.
    HELP_GROUP: ClassVar[str] = "Revocation feed"

    revocation_feed: bool = setting(
        True,
        "follow the core's revocation feed, so GetSession refuses revoked sessions without a "
        "core call (a core without the feed is detected: behaviour as without it)",
    )
    revocation_feed_failure: str = setting(
        FeedFailure.FAIL_OPEN.value,
        "while the feed lags: fail-open (tokens verify locally, as with the SDK) or "
        "fail-safe (GetSession asks the core, as with check_database)",
    )
    revocation_feed_max_lag_seconds: float = setting(
        10.0, "how far behind the feed may be before it counts as lagging (0.2 to 3600)"
    )
    revocation_max_entries: int = setting(
        2_000_000,
        "revoked sessions kept (about 75 bytes each); beyond it GetSession asks the core "
        "until they fit again",
    )

    def revocation_config(self, error: type[ConfigError]) -> RevocationConfig:
        """The domain's configuration of the follower; an invalid value raises ``error``
        naming its flag."""
        try:
            failure = FeedFailure(self.revocation_feed_failure.strip().lower())
        except ValueError:
            raise error(
                f"{flag_of('revocation_feed_failure')}: must be fail-open or fail-safe "
                f"(got {self.revocation_feed_failure!r})"
            ) from None
        try:
            return RevocationConfig(
                enabled=self.revocation_feed,
                failure=failure,
                max_lag_seconds=self.revocation_feed_max_lag_seconds,
                max_entries=self.revocation_max_entries,
            )
        except InvalidArgument as exc:
            name = _FIELD_SETTINGS.get(exc.field, exc.field)
            raise error(f"{flag_of(name)}: {exc.message}") from None
