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
from collections.abc import Callable

from ansible_collections.beamops.deploy.plugins.module_utils import _net
from ansible_collections.beamops.deploy.plugins.module_utils._dist import deprecated_alias, seconds_option

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
# The most bytes read of one answer. `show stat` of a large configuration (thousands of servers, some
# 100 columns) stays under a few MiB; past this the peer is not HAProxy answering one command, and the
# read stops instead of holding whatever it sends in memory.
MAX_ANSWER_BYTES = 16 * 1024 * 1024


class HAProxyError(Exception):
    """A failure to report as is: it already says what failed, where, why and what to do."""


class HAProxyRefused(HAProxyError):
    """HAProxy answered a `set` or `shutdown` command with an error: ``answer`` is what it said."""

    def __init__(self, message: str, answer: str) -> None:
        super().__init__(message)
        self.answer = answer


class DamagedCSV(ValueError):
    """An answer that starts like `show stat` CSV but cannot be read as CSV: the line and the problem."""


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
    nul = text.find("\x00")
    if nul >= 0:  # Python 3.11 reads a NUL into a field, older ones stop: refused the same way on both
        raise DamagedCSV(f"line {text.count(chr(10), 0, nul) + 1}: a NUL byte")
    reader = csv.DictReader(io.StringIO(text[2:]))
    try:
        return [{k: v for k, v in row.items() if k} for row in reader if row.get("pxname")]
    except csv.Error as exc:
        raise DamagedCSV(f"line {reader.reader.line_num}: {exc}") from None


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

    def in_rotation(self) -> bool:
        """Taking new sessions: ready and steadily UP."""
        return self.state == "ready" and self.is_up()

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


def admin_socket_argument_spec() -> dict:
    """Options of every module that reaches HAProxy's admin socket (doc fragment beamops.deploy.haproxy_admin).

    Pass ADMIN_SOCKET_RULES to AnsibleModule too, check admin_socket_problem(), then open runtime_api().
    """
    return {
        "socket": {"type": "path", "default": "/run/haproxy/admin.sock"},
        "admin_host": {"type": "str", "aliases": ["host"], "deprecated_aliases": deprecated_alias("host")},
        "admin_port": {"type": "int", "aliases": ["port"], "deprecated_aliases": deprecated_alias("port")},
        "socket_timeout_s": seconds_option("socket_timeout", "float", 5.0),
    }


ADMIN_SOCKET_RULES = {
    "mutually_exclusive": [("socket", "admin_host")],
    "required_together": [("admin_host", "admin_port")],
}


def admin_socket_problem(params: dict) -> str | None:
    """What is wrong with the admin socket options, as a message naming the option; None when nothing is."""
    if params["admin_port"] is not None and not 1 <= params["admin_port"] <= 65535:
        return f"admin_port must be between 1 and 65535, got {params['admin_port']}."
    if params["socket_timeout_s"] <= 0:
        return f"socket_timeout_s must be above 0, got {params['socket_timeout_s']:g}."
    return None


def read_argument_spec() -> dict:
    """Options of the read-only modules lb_member_info and lb_stats: the backends to read, then the admin socket's.

    Paired with the doc fragments beamops.deploy.haproxy_admin and beamops.deploy.haproxy_admin.read.
    """
    return {"backend": {"type": "list", "elements": "str", "aliases": ["backends"]}, **admin_socket_argument_spec()}


def names_problem(named: dict) -> str | None:
    """The first invalid HAProxy name of {option: [names]} as a message naming the option; None when all are valid.

    Checked before the admin socket is opened: the message says that nothing was sent.
    """
    for option, names in named.items():
        for name in names or []:
            problem = name_problem(name)
            if problem:
                return f"Invalid {option}: {problem}. Nothing was sent to HAProxy."
    return None


def runtime_api(params: dict) -> RuntimeAPI:
    """The runtime API the admin socket options name (the unix socket unless admin_host is set)."""
    return RuntimeAPI(params["socket"], params["admin_host"], params["admin_port"], params["socket_timeout_s"])


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
        wall time: a server that sends a byte now and then cannot stretch it. An answer longer than
        MAX_ANSWER_BYTES is not read further: the command fails.
        """
        if any(breaker in command for breaker in _COMMAND_BREAKERS):
            raise HAProxyError(f"Refused to send {command!r}: it would run more than one HAProxy command.")
        deadline = time.monotonic() + self.timeout
        try:
            sock = self._connect()
        except _net.TIMEOUTS as exc:
            raise HAProxyError(
                f"The {self.describe()} did not accept a connection for `{command}` within {self.timeout:g}s "
                "(socket_timeout_s). Check that HAProxy runs and is not overloaded, or raise socket_timeout_s."
            ) from exc
        except OSError as exc:
            where = "on the host running this task" if not self.host else "from the host running this task"
            raise HAProxyError(
                f"Cannot connect to the {self.describe()} {where}: {exc}. Check that HAProxy runs with a "
                "`stats socket ... level admin` at that address; a unix socket needs the task delegated to "
                "the load balancer (delegate_to), a TCP one needs admin_host/admin_port reachable."
            ) from exc
        try:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            sock.sendall(command.encode() + b"\n")
            answer = _net.read_to_close(sock, deadline, MAX_ANSWER_BYTES)
        except _net.AnswerTooLong:
            raise HAProxyError(
                f"The {self.describe()} sent more than {MAX_ANSWER_BYTES // 1048576} MiB "
                f"({MAX_ANSWER_BYTES} bytes, the most read of one answer) for `{command}`: reading "
                "stopped. HAProxy's answers are far smaller: check that this socket is HAProxy's "
                "admin socket."
            ) from None
        except _net.TIMEOUTS as exc:
            came = exc.received if isinstance(exc, _net.AnswerTimedOut) else 0
            raise HAProxyError(
                f"The {self.describe()} did not finish answering `{command}` within {self.timeout:g}s "
                f"(socket_timeout_s; {came} bytes came). Check that HAProxy is not overloaded "
                "or reloading, or raise socket_timeout_s."
            ) from exc
        except OSError as exc:
            raise HAProxyError(
                f"The {self.describe()} did not answer `{command}`: {exc}. "
                "Check HAProxy's `stats timeout` and that it is not reloading."
            ) from exc
        finally:
            sock.close()
        return answer.decode("utf-8", "replace")

    def cli_level(self) -> str | None:
        """'admin', 'operator', 'user', or None when HAProxy is too old to tell."""
        answer = self.command("show cli level").strip()
        return answer if answer in ("admin", "operator", "user") else None

    def _table(
        self, command: str, parse: Callable[[str], list[dict]], refused: str | None = None, advice: str = ""
    ) -> list[dict]:
        """`parse` (parse_servers_state, parse_stat_csv) over the answer to `command`.

        HAProxy answers a command it cannot run (an unknown backend) with its error text in place of the table,
        which `parse` raises as ValueError: given `refused` (what failed, where), an HAProxyError of `refused`,
        what HAProxy says, then `advice`; else the caller words it. A table that cannot be read is an HAProxyError
        naming the command, the line and the problem.
        """
        answer = self.command(command)
        try:
            return parse(answer)
        except DamagedCSV as exc:
            raise HAProxyError(
                f"The answer of the {self.describe()} to `{command}` is not readable CSV at {exc}. HAProxy "
                "does not send this: check that this socket is HAProxy's admin socket."
            ) from None
        except ValueError as exc:
            if refused is None:
                raise
            said = f"{refused} (HAProxy says: {exc})."
            raise HAProxyError(f"{said} {advice}" if advice else said) from exc

    def servers_state(self, backend: str | None = None) -> list[dict]:
        return self._table(
            f"show servers state {_checked_name(backend)}" if backend else "show servers state",
            parse_servers_state,
            f"Backend {backend!r} not found through the {self.describe()}",
            "Check the backend name in haproxy.cfg (`show backend` lists them).",
        )

    def stat_csv(self, command: str) -> list[dict]:
        """`show stat ...` rows; ValueError when the answer is not CSV (HAProxy's error text: the caller
        words it), HAProxyError naming the command, the line and the problem when the CSV is damaged."""
        return self._table(command, parse_stat_csv)

    def stat_rows(self, backend: str) -> list[dict]:
        return self._table(
            f"show stat {_checked_name(backend)} 4 -1",
            parse_stat_csv,
            f"Reading `show stat {backend}` through the {self.describe()} failed",
        )

    def members_of(self, backends: list[str] | None) -> list[Member]:
        """Every member of the backends (all backends when None), state and statistics joined."""
        rows = self.servers_state()
        names = backends or list(dict.fromkeys(r.get("be_name") for r in rows))
        known = {r.get("be_name") for r in rows}
        missing = [b for b in names if b not in known]
        if missing:
            raise HAProxyError(
                f"Backend(s) {', '.join(missing)} not found through the {self.describe()} "
                f"(backends there: {', '.join(sorted(k for k in known if k)) or 'none'}). Check haproxy.cfg."
            )
        members = []
        for backend in names:
            stats = {r.get("svname"): r for r in self.stat_rows(backend)}
            for row in rows:
                if row.get("be_name") == backend:
                    members.append(Member(backend, row.get("srv_name", ""), row, stats.get(row.get("srv_name"))))
        return members

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
            raise HAProxyRefused(f"HAProxy refused `{command}` through the {self.describe()}: {answer}", answer)

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


BOUND_RE = re.compile(r"^[1-9][0-9]*%?$")


def allowed_out(bound, members: int, option: str = "max_out_of_rotation") -> int:
    """A bound on how many may be out at once, as a count: a count, or a percentage of `members` rounded down
    (at least 1). ValueError, naming `option`, for anything else."""
    bound = str(bound)
    if not BOUND_RE.match(bound):
        raise ValueError(f"{option} must be a count or a percentage such as 25%, got {bound!r}")
    return max(1, members * int(bound[:-1]) // 100) if bound.endswith("%") else int(bound)


def capacity(seen, leaving: list[str], bound: str, backends: list[str], option: str = "max_out_of_rotation") -> dict:
    """Whether taking `leaving` out of rotation keeps within `bound`; the figures, and `text` saying why not.

    seen: (server, in_rotation) for every member of the backends as each load balancer read it; a server
    out of rotation on any of them counts as out. bound: a count, or a percentage of the distinct servers
    (at least 1). option: the setting the bound came from, named in the text.
    """
    seen = list(seen)
    fleet = sorted({server for server, _in_rotation in seen})
    allowed = allowed_out(bound, len(fleet), option)
    out_now = sorted({server for server, in_rotation in seen if not in_rotation})
    leaving = list(dict.fromkeys(leaving))
    unavailable = len(set(out_now) | set(leaving))
    already = f" ({', '.join(out_now)} already out: drained, in maintenance or DOWN)" if out_now else ""
    return {
        "members": len(fleet),
        "out_now": out_now,
        "leaving": leaving,
        "unavailable": unavailable,
        "allowed": allowed,
        "refused": unavailable > allowed,
        "text": f"would leave {unavailable} of the {len(fleet)} members of {', '.join(backends)} out of rotation at "
        f"once{already}, and {option} ({bound}) allows {allowed}",
    }


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


# --- Statistics: `show stat` counters per server and backend, and a window between two reads ---------------

# `show stat` columns read for statistics, by HAProxy's names. The counters only grow until HAProxy
# restarts (or `clear counters all`); the times are HAProxy's moving averages, in milliseconds.
STAT_COUNTERS = (
    "stot",
    "req_tot",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "econ",
    "eresp",
    "wretr",
    "wredis",
)
STAT_TIMES = ("qtime", "ctime", "rtime", "ttime")
STAT_COLUMNS = ("status", "weight", "scur", *STAT_COUNTERS, *STAT_TIMES)
RESPONSE_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")
# HAProxy keeps each time as a sliding sum over at most this many samples (TIME_STATS_SAMPLES): a
# window's own mean is worked back from the averages at both ends (window_mean).
TIME_SAMPLES = 512
# `show stat` types: 2 backends, 4 servers.
_STAT_TYPES = 6


def _count(row: dict, column: str) -> int | None:
    """A counter or gauge of a stat row; None when this HAProxy lacks the column or leaves it empty."""
    value = row.get(column)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _requests(row: dict) -> tuple[int | None, str | None]:
    """Requests of a row and where the figure comes from: req_tot, else the responses, else the sessions."""
    req_tot = _count(row, "req_tot")
    if req_tot is not None:
        return req_tot, "req_tot"
    responses = [_count(row, f"hrsp_{c}") for c in RESPONSE_CLASSES]
    if any(r is not None for r in responses):
        return sum(r or 0 for r in responses), "responses"
    stot = _count(row, "stot")
    return stot, "sessions" if stot is not None else None


def stat_entry(row: dict) -> dict:
    """One `show stat` row (a server or a backend's BACKEND row) -> the statistics lb_stats returns."""
    requests, source = _requests(row)
    entry = {
        "backend": row.get("pxname", ""),
        "status": row.get("status", ""),
        "weight": _count(row, "weight"),
        "sessions_current": _count(row, "scur"),
        "sessions_total": _count(row, "stot"),
        "requests": requests,
        "requests_from": source,
        "responses": {c: _count(row, f"hrsp_{c}") for c in RESPONSE_CLASSES},
        "connection_errors": _count(row, "econ"),
        "response_errors": _count(row, "eresp"),
        "retries": _count(row, "wretr"),
        "redispatches": _count(row, "wredis"),
        "queue_time_ms": _count(row, "qtime"),
        "connect_time_ms": _count(row, "ctime"),
        "response_time_ms": _count(row, "rtime"),
        "total_time_ms": _count(row, "ttime"),
        "missing": [c for c in STAT_COLUMNS if c not in row],
    }
    if row.get("svname") != "BACKEND":
        entry["server"] = row.get("svname", "")
    return entry


def _counters(entry: dict) -> dict:
    """The growing counters of an entry, flat: what a window subtracts."""
    flat = {k: entry[k] for k in ("sessions_total", "requests", "connection_errors", "response_errors")}
    flat.update({k: entry[k] for k in ("retries", "redispatches")})
    flat.update({f"responses_{c}": entry["responses"][c] for c in RESPONSE_CLASSES})
    return flat


def window_mean(before: float | None, after: float | None, count_before: int, count_after: int) -> float | None:
    """The mean of the samples HAProxy took between two reads of one of its average times.

    HAProxy 2.6 keeps each time as a sliding sum over at most N = TIME_STATS_SAMPLES samples, N
    growing with the server's request count c until it reaches 512: a plain mean of all samples
    while c <= N, then each sample v adds as avg = avg * (1 - 1/N) + v / N. So the average read
    after the window is w * before + (1 - w) * m, m the window's (recent-weighted) mean, w the
    weight left to what came before: min(c0, N) / min(c1, N) of the plain part, times
    (1 - 1/N) ** (the window's samples past N). Exact while the window's samples are alike;
    HAProxy rounds to whole ms, an error of at most (1 + w) / (1 - w) ms on m.
    """
    samples = count_after - count_before
    if before is None or after is None or samples <= 0 or count_before < 0:
        return None
    n = TIME_SAMPLES
    kept = min(count_before, n) / min(count_after, n)
    kept *= (1.0 - 1.0 / n) ** (count_after - max(count_before, n)) if count_after > n else 1.0
    if kept >= 1.0:
        return None
    return round(max(0.0, (after - before * kept) / (1.0 - kept)), 1)


def stat_window(first: dict | None, second: dict, seconds: float) -> dict:
    """What happened to one server or backend between two reads ``seconds`` apart.

    Counters that went down mean HAProxy's counters were reset in between (a restart, a reload
    without state, `clear counters all`): the second read's counters, counted from the reset, are
    the window's, and ``counters_reset`` says so. A server absent from the first read counts from 0.
    """
    after = _counters(second)
    before = _counters(first) if first is not None else dict.fromkeys(after, 0)
    reset = any(before[k] is not None and after[k] is not None and after[k] < before[k] for k in after)
    if reset or first is None:
        before = dict.fromkeys(after, 0)

    def delta(key: str) -> int | None:
        if after[key] is None or before[key] is None:
            return None
        return after[key] - before[key]

    requests = delta("requests")
    responses = {c: delta(f"responses_{c}") for c in RESPONSE_CLASSES}
    errors = sum(v or 0 for v in (responses["5xx"], delta("connection_errors"), delta("response_errors")))
    # HAProxy counts its time samples in requests (HTTP) or sessions: the same counter as `requests`.
    counts = (before["requests"] or 0, after["requests"] or 0)
    rtime_before = 0 if reset or first is None else first["response_time_ms"]
    return {
        "seconds": round(seconds, 3),
        "requests": requests,
        "responses": responses,
        "connection_errors": delta("connection_errors"),
        "response_errors": delta("response_errors"),
        "retries": delta("retries"),
        "redispatches": delta("redispatches"),
        "errors": errors,
        "error_ratio": round(errors / requests, 6) if requests else None,
        "requests_per_s": round(requests / seconds, 3) if requests is not None and seconds > 0 else None,
        "errors_per_s": round(errors / seconds, 3) if seconds > 0 else None,
        "mean_response_time_ms": window_mean(rtime_before, second["response_time_ms"], *counts),
        "counters_reset": reset,
    }


def read_stats(api: RuntimeAPI, backends: list[str] | None) -> list[dict]:
    """`show stat` rows of the backends' BACKEND rows and servers (every backend when None)."""
    if not backends:
        return api.stat_csv(f"show stat -1 {_STAT_TYPES} -1")
    rows = []
    for backend in backends:
        try:
            found = api.stat_csv(f"show stat {_checked_name(backend)} {_STAT_TYPES} -1")
        except ValueError:
            found = []
        found = [r for r in found if r.get("pxname") == backend]
        if not any(r.get("svname") == "BACKEND" for r in found):
            known = sorted({r.get("pxname") for r in api.stat_csv("show stat -1 2 -1")})
            raise HAProxyError(
                f"Backend {backend!r} not found through the {api.describe()} (backends there: "
                f"{', '.join(k for k in known if k) or 'none'}). Check the backend name in haproxy.cfg."
            )
        rows.extend(found)
    return rows


def stats_view(rows: list[dict], servers: list[str] | None = None) -> tuple[list[dict], dict]:
    """Rows -> (server entries, {backend: entry with its server names}); only the named servers when asked.

    A named server that no backend read holds is an error naming the servers there.
    """
    backends: dict[str, dict] = {}
    entries = []
    for row in rows:
        entry = stat_entry(row)
        if "server" not in entry:
            backends.setdefault(entry["backend"], {"servers": []}).update(entry)
            continue
        backends.setdefault(entry["backend"], {"servers": []})["servers"].append(entry["server"])
        if not servers or entry["server"] in servers:
            entries.append(entry)
    if servers:
        seen = {e["server"] for e in entries}
        missing = [s for s in servers if s not in seen]
        if missing:
            known = sorted({s for b in backends.values() for s in b["servers"]})
            raise HAProxyError(
                f"Server(s) {', '.join(missing)} not found in backend(s) {', '.join(backends) or 'none'} "
                f"(servers there: {', '.join(known[:20]) or 'none'}). Check the server names in haproxy.cfg."
            )
    return entries, backends
