"""Storages in separate OS processes: racing to migrate a fresh database and create its keys,
and a write acknowledged before a SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from pathlib import Path

from session_core.storage import open_storage
from tests.core.storage.contract import raw_fetch

REPO_ROOT = Path(__file__).resolve().parents[3]


CHILD = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    from session_core.storage import DynamicKeyRow, SessionRow, open_storage

    async def main(url: str, mode: str) -> None:
        storage = await open_storage(url)
        if mode == "race":
            pid = os.getpid()

            async def make() -> DynamicKeyRow:
                return DynamicKeyRow(created_at_time=pid, value=f"from-{pid}")

            keys = await storage.add_dynamic_key_unless_newer_exists(make, 0)
            value = await storage.get_or_create_value("k", lambda: f"v-{pid}", 0)
            await storage.close()
            print(json.dumps({"keys": [k.created_at_time for k in keys], "value": value}))
        else:  # "kill": acknowledge a write, then die without closing anything
            row = SessionRow("durable", "u", "h2", {"a": 1}, 10**15, 1, {}, False)
            await storage.insert_session(row)
            print("written", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def run_child(url: str, mode: str) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        url,
        mode,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=REPO_ROOT,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    if mode == "race":
        assert proc.returncode == 0, err.decode()
    return proc.returncode, out.decode()


async def test_processes_race_on_a_fresh_database(database_url: str) -> None:
    """Separate OS processes open (and migrate) a fresh database at the same time and race
    to create the dynamic key and the master key: all end up with the same ones."""
    outputs = await asyncio.gather(*(run_child(database_url, "race") for _ in range(4)))
    results = [json.loads(out) for _, out in outputs]
    assert all(len(r["keys"]) == 1 for r in results)
    assert len({r["keys"][0] for r in results}) == 1
    assert len({r["value"] for r in results}) == 1
    assert await raw_fetch(database_url, "SELECT version FROM schema_version") == [(1,), (2,)]
    assert await raw_fetch(
        database_url, "SELECT COUNT(*) FROM session_access_token_signing_keys"
    ) == [(1,)]


async def test_acknowledged_write_survives_kill_9(database_url: str) -> None:
    returncode, out = await run_child(database_url, "kill")
    assert out.strip() == "written"
    assert returncode == -9
    s = await open_storage(database_url)
    try:
        got = await s.get_session("durable")
        assert got is not None and got.session_data == {"a": 1}
    finally:
        await s.close()
