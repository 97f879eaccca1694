"""What a process tree is and holds, read from the kernel (/proc), not from its logs.

``/proc/<pid>/fd`` links sockets to ``socket:[inode]``; ``/proc/<pid>/net/tcp`` and ``tcp6``
map inodes to local addresses and states, and ``/proc/<pid>/net/unix`` lists Unix sockets.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

LISTEN, ESTABLISHED = "0A", "01"
_UNIX_ACCEPTING = 0x10000  # __SO_ACCEPTCON: a listening Unix socket


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        # "pid (comm) state ppid ...": comm may contain spaces, so split after ')'.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants that are alive now."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children(current))
    return sorted(found)


def is_alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes  # exited while we looked
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _inodes(pids: list[int]) -> set[str]:
    inodes: set[str] = set()
    for pid in pids:
        inodes |= socket_inodes(pid)
    return inodes


@dataclass(frozen=True)
class TcpSocket:
    host: str  # dialable: the listener's address, or loopback for a wildcard
    port: int
    state: str
    inode: str


def _address(hex_address: str, family: socket.AddressFamily) -> str:
    raw = bytes.fromhex(hex_address)
    if family is socket.AF_INET:
        packed = raw[::-1]  # one little-endian 32-bit word
    else:
        packed = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    host = socket.inet_ntop(family, packed)
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def tcp_sockets(pid: int | str = "self") -> list[TcpSocket]:
    """Every TCP socket in the network namespace of ``pid``."""
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            hex_host, hex_port = fields[1].rsplit(":", 1)
            found.append(
                TcpSocket(_address(hex_host, family), int(hex_port, 16), fields[3], fields[9])
            )
    return found


def listening(pids: list[int]) -> list[TcpSocket]:
    """The TCP sockets in LISTEN state that ``pids`` hold."""
    inodes = _inodes(pids)
    return [s for s in tcp_sockets(pids[0]) if s.state == LISTEN and s.inode in inodes]


def listening_unix_sockets(pids: list[int]) -> list[str]:
    """Paths (or abstract names) of listening Unix sockets that ``pids`` hold."""
    inodes = _inodes(pids)
    found = []
    for line in Path(f"/proc/{pids[0]}/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[3], 16) & _UNIX_ACCEPTING and fields[6] in inodes:
            found.append(fields[7] if len(fields) > 7 else f"<unnamed {fields[6]}>")
    return found


def owners(pids: list[int], port: int, state: str) -> dict[int, int]:
    """How many sockets on ``port`` in ``state`` each process holds."""
    wanted = {s.inode for s in tcp_sockets() if s.port == port and s.state == state}
    return {pid: len(socket_inodes(pid) & wanted) for pid in pids}
