"""The revoked set of the revocation feed's follower (``domain/revocations.py``): entries
leave at their ``validUntil``, repeats are no-ops, the cap is held (and reported), the
cached path and ``get_session`` look it up (with a real core), and the
memory of 1,000,000 entries is measured (object sizes, printed with ``-s``; bench/ reports
the process's RSS)."""

from __future__ import annotations

import sys

import pytest

from session_common.clock import ManualClock
from session_service.domain.api import InvalidArgument, RevocationConfig, SessionRecipe, Status
from session_service.domain.messages import SESSION_REVOKED_MESSAGE
from session_service.domain.revocations import (
    BUCKET_MS,
    DEFAULT_VALIDITY_MS,
    Revocations,
    revocation_key,
)

NOW = 1_700_000_000_000


def test_a_revoked_handle_is_found_and_another_is_not() -> None:
    revoked = Revocations(10)
    assert revoked.add("handle-a", NOW + 60_000, NOW)
    assert revoked.revoked("handle-a")
    assert not revoked.revoked("handle-b")
    assert revocation_key("handle-a") in revoked.keys
    assert len(revoked) == 1


def test_a_repeat_is_not_new_and_keeps_one_entry() -> None:
    revoked = Revocations(10)
    assert revoked.add("handle-a", NOW + 60_000, NOW)
    assert not revoked.add("handle-a", NOW + 60_000, NOW)
    assert len(revoked) == 1
    # The purge at the entry's validUntil drops it once, without error.
    assert revoked.purge(NOW + 60_000 + BUCKET_MS) == 1
    assert not revoked.revoked("handle-a") and len(revoked) == 0


def test_local_revocations_are_kept_only_while_a_feed_is_followed() -> None:
    revoked = Revocations(10)
    revoked.add_local(["handle-a"], NOW)
    assert not revoked.revoked("handle-a")  # no follower: as the SDK
    revoked.follows = True
    revoked.add_local(["handle-a"], NOW)
    assert revoked.revoked("handle-a")
    # Before any validity was learnt: the core's default.
    assert revoked.purge(NOW + DEFAULT_VALIDITY_MS - BUCKET_MS) == 0
    assert revoked.purge(NOW + DEFAULT_VALIDITY_MS + BUCKET_MS) == 1
    revoked.validity_ms = 7_200_000
    revoked.add_local(["handle-b"], NOW)
    assert revoked.purge(NOW + DEFAULT_VALIDITY_MS + BUCKET_MS) == 0
    assert revoked.purge(NOW + 7_200_000 + BUCKET_MS) == 1
    revoked.add_local(["handle-c"], NOW)
    revoked.clear()
    assert len(revoked) == 0 and not revoked.revoked("handle-c")


@pytest.mark.parametrize("local_first", [True, False])
@pytest.mark.parametrize("local_later", [True, False])
def test_a_local_revocation_and_the_feed_entry_keep_the_later_expiry(
    local_first: bool, local_later: bool
) -> None:
    """Whichever arrives first and whichever ends later, the session is kept until the
    later of the two expiries, once, and then leaves."""
    revoked = Revocations(10)
    revoked.follows = True
    revoked.validity_ms = 60 * BUCKET_MS
    local_until = NOW + revoked.validity_ms
    feed_until = local_until + (-20 if local_later else 20) * BUCKET_MS
    later = max(local_until, feed_until)

    def local() -> None:
        revoked.add_local(["handle-a"], NOW)

    def feed() -> None:
        revoked.add("handle-a", feed_until, NOW)

    for arrive in (local, feed) if local_first else (feed, local):
        arrive()
    revoked.add("handle-a", feed_until, NOW)  # a repeat of the feed changes nothing
    assert len(revoked) == 1
    assert revoked.purge(min(local_until, feed_until) + 2 * BUCKET_MS) == 0
    assert revoked.revoked("handle-a")
    assert revoked.purge(later - BUCKET_MS) == 0
    assert revoked.purge(later + 2 * BUCKET_MS) == 1
    assert not revoked.revoked("handle-a") and len(revoked) == 0
    assert not revoked._copies and not revoked._local


def test_an_entry_already_past_its_window_is_not_kept() -> None:
    revoked = Revocations(10)
    assert not revoked.add("handle-a", NOW, NOW)
    assert not revoked.add("handle-b", NOW - 1, NOW)
    assert len(revoked) == 0


def test_entries_leave_once_their_whole_bucket_is_past() -> None:
    revoked = Revocations(100)
    early, late = NOW + 5 * BUCKET_MS, NOW + 50 * BUCKET_MS
    for number in range(10):
        revoked.add(f"early-{number}", early + number, NOW)
        revoked.add(f"late-{number}", late + number, NOW)
    assert revoked.purge(NOW) == 0
    # Still inside the window (of the entry, or of its bucket): kept.
    assert revoked.purge(early + 9) == 0
    assert revoked.revoked("early-0")
    # The early bucket is wholly past: its entries go, the late ones stay.
    assert revoked.purge(early + 2 * BUCKET_MS) == 10
    assert not any(revoked.revoked(f"early-{n}") for n in range(10))
    assert all(revoked.revoked(f"late-{n}") for n in range(10))
    assert revoked.purge(late + 2 * BUCKET_MS) == 10
    assert len(revoked) == 0


def test_the_cap_is_held_and_reported() -> None:
    revoked = Revocations(3)
    for number in range(3):
        assert revoked.add(f"handle-{number}", NOW + 60_000, NOW)
    assert not revoked.overflowed
    assert not revoked.add("handle-3", NOW + 60_000, NOW)
    assert revoked.overflowed
    assert len(revoked) == 3 and not revoked.revoked("handle-3")
    # A repeat of a kept entry at the cap is not an overflow of its own.
    revoked.overflowed = False
    assert not revoked.add("handle-0", NOW + 60_000, NOW)
    assert not revoked.overflowed


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"max_lag_seconds": 0.1}, "revocations.max_lag_seconds"),
        ({"max_lag_seconds": float("nan")}, "revocations.max_lag_seconds"),
        ({"max_entries": 0}, "revocations.max_entries"),
        ({"backoff_initial_seconds": 6.0}, "revocations.backoff_initial_seconds"),
    ],
)
def test_invalid_configuration_names_its_field(values: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        RevocationConfig(**values)  # type: ignore[arg-type]
    assert raised.value.field == field


def test_the_poll_wait_stays_well_inside_the_lag_bound() -> None:
    assert RevocationConfig(max_lag_seconds=10).poll_wait_seconds == 5
    assert RevocationConfig(max_lag_seconds=600).poll_wait_seconds == 25


def test_memory_of_a_million_revocations_is_measured() -> None:
    revoked = Revocations(2_000_000)
    for number in range(1_000_000):
        revoked.add(f"{number * 0x9E3779B97F4A7C15 % 2**128:032x}", NOW + 3_600_000 + number, NOW)
    assert len(revoked) == 1_000_000
    assert revoked.revoked(f"{999_999 * 0x9E3779B97F4A7C15 % 2**128:032x}")
    # What the set holds: its table, the key objects, the expiry buckets (lists and index).
    buckets = revoked._buckets
    used = (
        sys.getsizeof(revoked.keys)
        + sum(sys.getsizeof(key) for key in revoked.keys)
        + sys.getsizeof(buckets)
        + sum(sys.getsizeof(entries) for entries in buckets.values())
        + sys.getsizeof(revoked._due)
    )
    print(f"\n1,000,000 revocations: {used / 1e6:.1f} MB ({used / len(revoked):.0f} bytes each)")


async def test_a_revoked_session_is_refused_by_the_fast_path_and_get_session(
    manager: SessionRecipe, domain_clock: ManualClock
) -> None:
    """The revoked set is looked up on the cached path too, even for a token whose decoded
    entry is still kept (the follower drops those; this is the check that does not rely on
    it), and ``check_core`` turns the cached path off."""
    created = (await manager.create_new_session("alice")).session
    other = (await manager.create_new_session("bob")).session
    assert created is not None and other is not None
    for _ in range(2):  # verified, then kept decoded
        for session in (created, other):
            assert (await manager.get_session(session.access_token)).status is Status.OK
    cache = manager.fast_path_cache(lambda session: session)
    assert cache is not None and cache.answer is not None
    assert cache.answer(created.access_token.encode()) is not None

    now = domain_clock.now_ms()
    manager.revoked_sessions.add(created.session_handle, now + 60_000, now)
    assert cache.answer(created.access_token.encode()) is None
    refused = await manager.get_session(created.access_token)
    assert (refused.status, refused.message) == (Status.UNAUTHORISED, SESSION_REVOKED_MESSAGE)
    assert cache.answer(other.access_token.encode()) is not None

    manager.revoked_sessions.check_core = True
    assert cache.answer(other.access_token.encode()) is None


async def test_the_access_token_validity_is_learnt_from_a_verified_token(
    manager: SessionRecipe,
) -> None:
    """``exp - iat`` of a token verified locally: how long a local revocation is kept."""
    assert manager.revoked_sessions.validity_ms == 0
    created = (await manager.create_new_session("alice")).session
    assert created is not None
    assert (await manager.get_session(created.access_token)).status is Status.OK
    iat = created.access_token_payload["iat"]
    exp = created.access_token_payload["exp"]
    assert isinstance(iat, int) and isinstance(exp, int)
    assert manager.revoked_sessions.validity_ms == (exp - iat) * 1000 > 0


def test_a_purge_looks_at_most_at_a_slice_and_the_next_one_goes_on() -> None:
    """Entries that expire together leave a slice at a time (the follower lets the event
    loop run between slices), copies of a local entry included."""
    revoked = Revocations(100)
    revoked.follows = True
    revoked.validity_ms = 5 * BUCKET_MS
    for number in range(25):
        revoked.add(f"handle-{number}", NOW + 5 * BUCKET_MS, NOW)
    revoked.add_local(["handle-0", "local"], NOW)  # a second copy, and a local entry
    late = NOW + 9 * BUCKET_MS
    revoked.add("late", late, NOW)
    after = NOW + 7 * BUCKET_MS
    dropped = []
    while revoked.expired(after):
        dropped.append(revoked.purge(after, 10))
    # 27 filed before the late one: three slices; handle-0's copy leaves no entry behind.
    assert len(dropped) == 3 and sum(dropped) == 26
    assert len(revoked) == 1 and revoked.revoked("late")
    assert not revoked.expired(after) and revoked.purge(after, 10) == 0
    assert not revoked._copies and not revoked._local
    assert revoked.purge(late + 2 * BUCKET_MS) == 1 and len(revoked) == 0
