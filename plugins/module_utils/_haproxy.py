# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HAProxy runtime API: one command per connection, parsers, member states and the wait loop.

Private to the collection (the leading underscore): no compatibility promise to other users.
Standard library only, so that it runs on any load-balancer host with a Python.
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import time

# srv_admin_state bits of `show servers state` (HAProxy 2.6, include/haproxy/server-t.h).
ADMIN_FLAGS = (
    (0x01, "forced_maint"),  # set server ... state maint
    (0x02, "inherited_maint"),  # from a tracked server
    (0x04, "config_maint"),  # `disabled` in the configuration
    (0x08, "forced_drain"),  # set server ... state drain
    (0x10, "inherited_drain"),  # from a tracked server
    (0x20, "resolution_maint"),  # the server's name does not resolve
    (0x40, "fqdn_changed"),  # informative: the FQDN was set at runtime; not a maintenance state
)
# Bits that `set server ... state ready|drain|maint` sets or clears; the others are HAProxy's own.
MAINT_BITS = 0x01 | 0x04
DRAIN_BITS = 0x08
# Bits this module cannot clear: they keep a member out of rotation whatever it asks.
FOREIGN_BITS = 0x02 | 0x10 | 0x20
# srv_check_result: CHK_RES_FAILED
CHECK_FAILED = 2
MAX_WEIGHT = 256
# The characters HAProxy accepts in proxy (backend) and server names (invalid_char() in its tools.c).
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,255}$")
# What would end one runtime API command and start another (or escape that end): never sent.
_COMMAND_BREAKERS = (";", "\n", "\r", "\\", "\x00")
# `show stat` prints a member between two states with its health counter: "UP 1/3" (UP, going
# down), "DOWN 1/2" (DOWN, going up), "NOLB 2/3", "DRAIN 1/3"; the HTML page says "UP, going down".
_TRANSITIONAL_RE = re.compile(r"\d+/\d+|going (?:up|down)", re.IGNORECASE)


class HAProxyError(Exception):
    """A failure to report as is: it already says what failed, where, why and what to do."""


def name_problem(name) -> str | None:
    """None when ``name`` is a valid HAProxy backend or server name, else why not."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        return f"{name!r} is not an HAProxy name: use letters, digits and - _ . : only (no space, ';' or newline)"
    return None


def _checked_name(name: str) -> str:
    problem = name_problem(name)
    if problem:
        raise HAProxyError(f"Refused to build an HAProxy command: {problem}.")
    return name


def decode_admin_state(bits: int) -> dict:
    """srv_admin_state -> the admin state this module manages, and every flag by name."""
    flags = [name for bit, name in ADMIN_FLAGS if bits & bit]
    if bits & MAINT_BITS:
        state = "maint"
    elif bits & DRAIN_BITS:
        state = "drain"
    else:
        state = "ready"
    return {"state": state, "flags": flags}


def parse_stat_csv(text: str) -> list[dict]:
    """`show stat ... ` CSV -> one dict per row, columns by header name (the order varies by version)."""
    if not text.startswith("# "):
        raise ValueError(text.strip() or "empty answer")
    reader = csv.DictReader(io.StringIO(text[2:]))
    return [{k: v for k, v in row.items() if k} for row in reader if row.get("pxname")]


def parse_servers_state(text: str) -> list[dict]:
    """`show servers state [backend]` -> one dict per server, fields by header name."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = next((line for line in lines if line.startswith("# ")), None)
    if header is None:
        raise ValueError(text.strip() or "empty answer")
    names = header[2:].split()
    rows = []
    for line in lines:
        if line.startswith("#") or len(line.split()) < len(names) or not line[0].isdigit():
            continue
        rows.append(dict(zip(names, line.split())))
    return rows


def _int(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def status_word(status: str) -> str:
    """'UP 1/2' -> 'UP', 'MAINT (via be/srv)' -> 'MAINT', 'no check' -> 'NO CHECK'."""
    status = (status or "").strip()
    if status.lower() == "no check":
        return "NO CHECK"
    return status.split(" ", 1)[0].replace(",", "").upper()


def is_transitional(status: str) -> bool:
    """True for a status between two states: 'UP 1/3' (going down), 'DOWN 1/2' (going up), ..."""
    return bool(_TRANSITIONAL_RE.search(status or ""))


class Member:
    """One server in one backend, as HAProxy reports it at one instant."""

    def __init__(self, backend: str, server: str, state_row: dict, stat_row: dict | None) -> None:
        self.backend = backend
        self.server = server
        self.admin_bits = _int(state_row.get("srv_admin_state"))
        self.op_state = _int(state_row.get("srv_op_state"))
        self.check_result = _int(state_row.get("srv_check_result"))
        self.weight = _int(state_row.get("srv_uweight"))
        stat_row = stat_row or {}
        self.status = stat_row.get("status", "")
        self.scur = _int(stat_row.get("scur"))
        self.qcur = _int(stat_row.get("qcur"))
        self.check = stat_row.get("check_desc") or stat_row.get("check_status") or ""
        decoded = decode_admin_state(self.admin_bits)
        self.state = decoded["state"]
        self.flags = decoded["flags"]

    @property
    def name(self) -> str:
        return f"{self.backend}/{self.server}"

    def is_up(self) -> bool:
        """Steadily UP: 'UP 1/3' is UP with failing checks, on its way down, so it does not count."""
        return status_word(self.status) in ("UP", "NO CHECK") and not is_transitional(self.status)

    def is_down(self) -> bool:
        """Out of rotation by its health (or its address), not by an admin state this module set."""
        word = status_word(self.status)
        if word == "DOWN" or self.admin_bits & 0x20:
            return True
        # In maintenance HAProxy pauses the checks and shows MAINT: the last check result tells.
        return word == "MAINT" and self.check_result == CHECK_FAILED

    def is_drained(self) -> bool:
        return self.scur == 0 and self.qcur == 0

    def admin(self) -> dict:
        """What `changed` and the diff are about: the admin state and the weight, never traffic."""
        return {"state": self.state, "weight": self.weight}

    def as_dict(self) -> dict:
        return {
            "state": self.state,
            "weight": self.weight,
            "status": self.status,
            "admin_flags": list(self.flags),
            "sessions": self.scur,
            "queue": self.qcur,
            "check": self.check,
        }


class RuntimeAPI:
    """HAProxy's runtime API on a unix socket or a TCP admin socket, one command per connection."""

    def __init__(
        self,
        socket_path: str | None = None,
        host: str | None = None,
        port: int | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.socket_path = socket_path
        self.host = host
        self.port = port
        self.timeout = timeout

    def describe(self) -> str:
        if self.host:
            return f"HAProxy admin socket tcp://{self.host}:{self.port}"
        return f"HAProxy admin socket {self.socket_path}"

    def _connect(self) -> socket.socket:
        if self.host:
            return socket.create_connection((self.host, self.port), timeout=self.timeout)
        if not os.path.exists(self.socket_path):
            raise FileNotFoundError(f"{self.socket_path} does not exist")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        return sock

    def command(self, command: str) -> str:
        """Send one command, read the whole answer (HAProxy closes the connection after it).

        The whole exchange, from connecting to the last byte, takes at most ``timeout`` seconds of
        wall time: a server that sends a byte now and then cannot stretch it.
        """
        if any(breaker in command for breaker in _COMMAND_BREAKERS):
            raise HAProxyError(f"Refused to send {command!r}: it would run more than one HAProxy command.")
        deadline = time.monotonic() + self.timeout
        try:
            sock = self._connect()
        except OSError as exc:
            where = "on the host running this task" if not self.host else "from the host running this task"
            raise HAProxyError(
                f"Cannot connect to the {self.describe()} {where}: {exc}. Check that HAProxy runs with a "
                "`stats socket ... level admin` at that address; a unix socket needs the task delegated to "
                "the load balancer (delegate_to), a TCP one needs host/port reachable."
            ) from exc
        chunks = []
        try:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            sock.sendall(command.encode() + b"\n")
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError as exc:
            raise HAProxyError(
                f"The {self.describe()} did not finish answering `{command}` within {self.timeout:g}s "
                f"(socket_timeout; {sum(map(len, chunks))} bytes came). Check that HAProxy is not overloaded "
                "or reloading, or raise socket_timeout."
            ) from exc
        except OSError as exc:
            raise HAProxyError(
                f"The {self.describe()} did not answer `{command}`: {exc}. "
                "Check HAProxy's `stats timeout` and that it is not reloading."
            ) from exc
        finally:
            sock.close()
        return b"".join(chunks).decode("utf-8", "replace")

    def cli_level(self) -> str | None:
        """'admin', 'operator', 'user', or None when HAProxy is too old to tell."""
        answer = self.command("show cli level").strip()
        return answer if answer in ("admin", "operator", "user") else None

    def servers_state(self, backend: str | None = None) -> list[dict]:
        answer = self.command(f"show servers state {_checked_name(backend)}" if backend else "show servers state")
        try:
            return parse_servers_state(answer)
        except ValueError as exc:
            raise HAProxyError(
                f"Backend {backend!r} not found through the {self.describe()} (HAProxy says: {exc}). "
                "Check the backend name in haproxy.cfg (`show backend` lists them)."
            ) from exc

    def stat_rows(self, backend: str) -> list[dict]:
        answer = self.command(f"show stat {_checked_name(backend)} 4 -1")
        try:
            return parse_stat_csv(answer)
        except ValueError as exc:
            raise HAProxyError(
                f"Reading `show stat {backend}` through the {self.describe()} failed (HAProxy says: {exc})."
            ) from exc

    def member(self, backend: str, server: str) -> Member:
        """Read one member; fail naming the backend or server when HAProxy does not know it."""
        rows = [r for r in self.servers_state(backend) if r.get("be_name") == backend]
        row = next((r for r in rows if r.get("srv_name") == server), None)
        if row is None:
            known = ", ".join(sorted(r.get("srv_name", "?") for r in rows)[:20]) or "none"
            raise HAProxyError(
                f"Server {server!r} not found in backend {backend!r} through the {self.describe()} "
                f"(servers there: {known}). Check the server name in haproxy.cfg."
            )
        stat = next((r for r in self.stat_rows(backend) if r.get("svname") == server), None)
        return Member(backend, server, row, stat)

    def backends_of(self, server: str) -> list[str]:
        """Every backend that has a server of this name, in HAProxy's order."""
        found = []
        for row in self.servers_state():
            if row.get("srv_name") == server and row.get("be_name") not in found:
                found.append(row["be_name"])
        return found

    def _expect_empty(self, command: str) -> None:
        answer = self.command(command).strip()
        if answer:
            raise HAProxyError(f"HAProxy refused `{command}` through the {self.describe()}: {answer}")

    @staticmethod
    def _ref(member: Member) -> str:
        return f"{_checked_name(member.backend)}/{_checked_name(member.server)}"

    def set_state(self, member: Member, state: str) -> None:
        if state not in ("ready", "drain", "maint"):
            raise HAProxyError(f"Refused to set {member.name} to the unknown state {state!r}.")
        self._expect_empty(f"set server {self._ref(member)} state {state}")

    def set_weight(self, member: Member, weight: int) -> None:
        self._expect_empty(f"set server {self._ref(member)} weight {int(weight)}")

    def shutdown_sessions(self, member: Member) -> None:
        self._expect_empty(f"shutdown sessions server {self._ref(member)}")


def wait_outcome(goal: str, members: list[Member]) -> str | None:
    """One step of the wait: the outcome once every member is there, else None (keep waiting).

    goal 'up': every member UP. goal 'drained': every member has 0 sessions and 0 queued, or
    is DOWN (a DOWN member gets no new traffic: waiting for it would only burn the timeout).
    """
    if goal == "up":
        return "up" if all(m.is_up() for m in members) else None
    if not all(m.is_drained() or m.is_down() for m in members):
        return None
    # A DOWN member is reported as such, sessions or not: the caller learns it was not serving.
    return "member_down" if any(m.is_down() for m in members) else "drained"


def wait_for(
    read,
    goal: str,
    timeout: float,
    sleep: float,
    clock=time.monotonic,
    sleeper=time.sleep,
) -> tuple[str | None, list[Member], float]:
    """Poll read() until wait_outcome() says done or the timeout passes.

    Returns (outcome or None on timeout, last members read, seconds waited). The first read
    happens at once: a member already there returns without sleeping.
    """
    started = clock()
    while True:
        members = read()
        outcome = wait_outcome(goal, members)
        waited = clock() - started
        if outcome is not None or waited >= timeout:
            return outcome, members, waited
        sleeper(max(0.0, min(sleep, timeout - waited)))
