# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Talks to a running BEAM node of a release: release_handler calls, node status, the start script.

Each question is an Erlang expression with Node bound to the target. It is evaluated on the node
itself over a distribution connection this process makes as a hidden node (_edp: no VM to boot),
or, where that connection cannot be made (TLS or another carrier, no epmd, an older OTP), on a
short-lived hidden Erlang node started with the release's own ERTS (or the system `erl`).
Either way the cookie never appears in a command line, a log or a result. (relx's
`bin/<rel> eval` would pass it to erl_call as an argument, visible to every local user.)
"""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import shutil
import tarfile
import tempfile
import time

from ansible_collections.beamops.deploy.plugins.module_utils import _dist, _edp, _erlterm, _fs

RESULT_MARKER = "BEAMOPS-RESULT"
NODEDOWN = "beamops_nodedown"
NOT_SENT = object()  # a question the own connection could not deliver (nothing ran on the node)
_SMALL_LIMIT = 1024 * 1024  # start script, start_erl.data, the hot upgrade record: far below it
# A relup lists instructions per changed module, both ways: a large system's stays well below this.
_RELUP_LIMIT = 32 * 1024 * 1024


class OtpError(Exception):
    """A call to the node could not be made or its answer not read."""


def read_small(path: str, errors: str = "strict", limit: int = _SMALL_LIMIT) -> str | None:
    """_fs.read_small of a release tree's file, a FIFO or device in its place refused as an OtpError."""
    return _fs.read_small(path, limit, errors, unsafe=OtpError)


class ReleaseRoot:
    """A relx-style release directory: bin/<name>, releases/, erts-*/, lib/."""

    def __init__(self, path: str, name: str) -> None:
        self.path = os.path.realpath(path)
        self.name = name

    @classmethod
    def locate(cls, root: str, name: str) -> ReleaseRoot:
        """<root>/current when the versioned layout is used, else <root> itself."""
        current = os.path.join(root, "current")
        if os.path.islink(current) or os.path.isdir(current):
            return cls(current, name)
        return cls(root, name)

    @property
    def script(self) -> str:
        return os.path.join(self.path, "bin", self.name)

    def exists(self) -> bool:
        return os.path.isfile(self.script)

    def missing(self) -> str:
        """Why there is no usable start script (exists() is False): absent, or not a regular file."""
        if os.path.exists(self.script):
            return (
                f"the start script {self.script} is not a regular file ({_fs._kind(os.stat(self.script).st_mode)}): "
                "it is not read; remove or replace it with the release's start script"
            )
        return f"no start script {self.script}"

    def script_version(self) -> str | None:
        """The version written into bin/<name>: what a cold start boots."""
        text = read_small(self.script, errors="replace")
        if text is None:
            return None
        for line in text.splitlines():
            match = re.match(r'\s*REL_VSN="([^"]+)"', line)
            if match:
                return match.group(1)
        # mix releases read their version from releases/start_erl.data at start.
        return self.start_erl_data()[1]

    def start_erl_data(self) -> tuple[str | None, str | None]:
        """(erts version, release version) from releases/start_erl.data."""
        text = read_small(os.path.join(self.path, "releases", "start_erl.data"))
        if text is None:
            return None, None
        parts = text.split()
        padded = [*parts, None, None]
        return padded[0], padded[1]

    def versions(self) -> list[str]:
        """Versions whose releases/<vsn> the start script may use: start_erl.data's, then the script's."""
        found = [self.start_erl_data()[1], self.script_version()]
        return [v for i, v in enumerate(found) if v and v not in found[:i]]

    def node_name(self, given: str | None = None) -> tuple[str, str]:
        """('-sname'|'-name', full node name): given, else as the release's start script names it."""
        try:
            if given:
                return _dist.flag_for_given_name(given)
            return _dist.discover_node_name(self.path, self.name, self.versions())
        except _dist.DistError as exc:
            raise OtpError(str(exc)) from None

    def erl(self) -> str:
        erts_vsn = self.start_erl_data()[0]
        candidates = sorted(glob.glob(os.path.join(self.path, "erts-*", "bin", "erl")))
        preferred = [c for c in candidates if erts_vsn and f"erts-{erts_vsn}" in c]
        found = (preferred or candidates or [shutil.which("erl")])[0]
        if not found:
            raise OtpError(f"no erts-*/bin/erl in {self.path} and no erl on PATH: cannot reach the node")
        return found

    def boot_args(self) -> list[str]:
        version = self.start_erl_data()[1] or self.script_version() or ""
        clean = os.path.join(self.path, "releases", version, "start_clean")
        if not os.path.isfile(clean + ".boot"):
            return []
        # mix releases' boot files name their lib directory through $RELEASE_LIB.
        return ["-boot", clean, "-boot_var", "RELEASE_LIB", os.path.join(self.path, "lib")]

    def staged_tarball(self, version: str) -> str:
        """Where release_handler:unpack_release("<vsn>/<name>") looks for the tarball."""
        return os.path.join(self.path, "releases", version, f"{self.name}.tar.gz")

    def stage(self, version: str, tarball: str) -> None:
        """Copy a tarball to where release_handler looks for it (nothing when it is there)."""
        target = self.staged_tarball(version)
        if os.path.realpath(tarball) != os.path.realpath(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(tarball, target)

    def relup_text(self, version: str, tarball: str | None) -> str:
        """The relup of version: from the staged tarball, else from the unpacked release."""
        if tarball and os.path.isfile(tarball):
            return relup_from_tarball(tarball, version)
        path = os.path.join(self.path, "releases", version, "relup")
        text = read_small(path, limit=_RELUP_LIMIT) if os.path.exists(path) else None
        if text is not None:
            return text
        raise OtpError(
            f"version {version} is neither staged at {tarball} nor unpacked in {self.path}: "
            "stage it first (beamops.deploy.release state=staged)"
        )

    def point_start_script(self, version: str) -> bool | None:
        """Make bin/<name> the script of version, so a cold start boots it.

        True when it was replaced, False when it already was, None when bin/<name>-<version> is missing.
        """
        if self.script_version() == version:
            return False
        versioned = f"{self.script}-{version}"
        if not os.path.isfile(versioned):
            return None
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(versioned), prefix=".beamops-")
        os.close(fd)
        shutil.copy2(versioned, tmp)
        os.replace(tmp, self.script)
        return True

    @property
    def record_path(self) -> str:
        return os.path.join(self.path, "releases", ".beamops-hot-upgrade.json")

    def read_record(self) -> dict:
        """The last hot upgrade or rollback made here (what a rollback returns to)."""
        try:
            record = json.loads(read_small(self.record_path) or "{}")
        except ValueError:
            return {}
        return record if isinstance(record, dict) else {}

    def write_record(self, **record) -> None:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.record_path), prefix=".beamops-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.replace(tmp, self.record_path)


class Node:
    """The running node of a release, driven through rpc: over this process's own distribution
    connection (see _session), else from a hidden control node.

    The control node runs with HOME set to a private temporary directory (mode 0700) holding a
    throwaway .erlang.cookie (0400) for itself and the cookies to try in a file it reads (0600);
    the directory is removed when the control node ends. So no cookie is in a command line or an
    environment, and erl never reads, creates or changes the user's own ~/.erlang.cookie.
    """

    def __init__(
        self,
        module,
        release: ReleaseRoot,
        timeout: float = 60.0,
        cookie: str | None = None,
        cookie_file: str | None = None,
        node_name: str | None = None,
        timeout_option: str = "timeout_s",
    ) -> None:
        self.module = module
        self.release = release
        self.timeout = timeout
        self.timeout_option = timeout_option  # the module option timeout comes from, for messages
        self.name_flag, self.name = release.node_name(node_name) if node_name else release.node_name()
        self.vm_args = _dist.vm_args_in_use(release.path, release.versions())
        try:
            self.cookies, self.cookie_notes = _dist.discover_cookies(
                release.path, release.name, release.versions(), cookie, cookie_file
            )
        except OSError as exc:
            raise OtpError(
                f"cookie_file {cookie_file} cannot be read ({getattr(exc, 'strerror', None) or exc}): "
                "give a file the task's user can read"
            ) from None
        no_log_values = getattr(module, "no_log_values", None)
        for candidate in self.cookies:
            if no_log_values is not None:
                no_log_values.add(candidate.value)
        self.cookie_source: str | None = None
        self.unreachable_reason: str | None = None
        self.native: _edp.Connection | None = None
        self.port: int | None = None  # the node's distribution port, as epmd gave it to precheck()
        self.native_off = not self.vm_args.uses_epmd() or bool(self.vm_args.dist_args())
        self.lost = None  # the {badrpc, _} of a question sent natively that got no answer
        self.refused = False  # the node refused every cookie over the own connection

    def _session(self) -> _edp.Connection | None:
        """A distribution connection to the node made by this process, or None (then a control VM asks).

        Only for a node on plain TCP distribution found through epmd; a cookie the node refuses is
        passed over for the next one, as the control VM does. Anything unexpected turns it off for
        this Node, so the control VM, which knows every carrier, gives the answer and its reasons.
        """
        if self.native is not None or self.native_off or not self.cookies or self.port is None:
            return self.native
        host = self.name.partition("@")[2]
        port = self.port
        for index, cookie in enumerate(self.cookies):
            try:
                conn = _edp.Connection.connect(host, port, self.name, _edp.own_name(host), cookie.value, 5.0)
            except _edp.Refused:
                continue
            except (OSError, _edp.ProtocolError):
                self.native_off = True
                return None
            winner = self.cookies.pop(index)
            self.cookies.insert(0, winner)
            self.cookie_source = winner.source
            self.native = conn
            return conn
        # Every cookie failed the node's check: said from now on, without a control VM trying them all again.
        self.refused = self.native_off = True
        return None

    def _evaluate(self, conn: _edp.Connection, body: str, timeout: float | None):
        """Evaluate body on the node itself (erl_scan, erl_parse, erl_eval through rex), Node bound to it.

        Returns the value; NOT_SENT when the connection failed while the question was read (erl_scan,
        erl_parse: nothing ran), so it can be asked again; or NODEDOWN when it ended before the answer
        (``lost`` then holds the {badrpc, nodedown | timeout} an rpc:call would have answered)."""
        steps = [
            # Reading the question takes no time: a connection that does not answer it is dead.
            ("erl_scan", "string", 5.0, lambda _: [body + "."]),
            ("erl_parse", "parse_exprs", 5.0, lambda tokens: [tokens[1]]),
            # The body bounds each of its own rpc calls by the timeout.
            (
                "erl_eval",
                "exprs",
                (timeout or self.timeout) * 10 + 60,
                lambda exprs: [exprs[1], [(_erlterm.Atom("Node"), _erlterm.Atom(self.name))]],
            ),
        ]
        answer = None
        for mod, fun, limit, args in steps:
            try:
                answer = conn.rpc(mod, fun, args(answer), limit)
            except _edp.ProtocolError as exc:
                self.native = None
                raise OtpError(f"node {self.name} answered something this module cannot read: {exc}") from None
            if isinstance(answer, tuple) and answer[:1] == ("badrpc",) and answer[1] in ("nodedown", "timeout"):
                self.native = None
                if mod != "erl_eval":
                    return NOT_SENT
                self.lost = answer
                self.unreachable_reason = f"node {self.name} closed the connection before it answered ({answer[1]})"
                return NODEDOWN
            if not (isinstance(answer, tuple) and answer[:1] in (("ok",), ("value",))):
                said = _erlterm.format_term(answer, 400)
                raise OtpError(f"node {self.name} could not evaluate the question ({mod}:{fun}): {said}")
        return answer[1]

    def refused_reason(self) -> str:
        return (
            f"node {self.name} is known to epmd but refused every cookie tried ({self.tried()}), "
            "or it runs under another host name: give its cookie with cookie_file or cookie"
            if self.vm_args.uses_epmd()
            else f"node {self.name} did not answer a ping with any cookie tried ({self.tried()})"
        )

    def tried(self) -> str:
        """The cookie sources tried and the ones looked at but not used, for a message (never a value)."""
        text = ", ".join(c.describe() for c in self.cookies) or "none"
        return text + "".join(f"; {note}" for note in self.cookie_notes)

    def precheck(self) -> str | None:
        """Why the node cannot be reached, seen from epmd without starting a VM; None when epmd knows it."""
        if not self.vm_args.uses_epmd():
            return None
        short, _sep, host = self.name.partition("@")
        port = _dist.epmd_port()
        try:
            names = _dist.epmd_names(host, port, timeout=min(2.0, self.timeout), option=self.timeout_option)
        except OSError as exc:
            if not getattr(exc, "errno", None):
                # Something listens on the epmd port but answers too slowly or too much: say that, not
                # that no node runs (a node may well run behind an overloaded host).
                return f"node {self.name}: {exc}; whether the node runs is not known"
            return (
                f"node {self.name}: epmd at {host}:{port} does not answer "
                f"({getattr(exc, 'strerror', None) or exc}), so no node with distribution runs on {host}: "
                "start the release, or give the node's name with node_name if its host part differs"
            )
        self.port = names.get(short)
        if short not in names:
            return (
                f"node {self.name}: epmd at {host}:{port} answers but has no node named {short} "
                f"(it has: {', '.join(sorted(names)) or 'none'}): the node is not running, or runs "
                "under another name (give it with node_name)"
            )
        return None

    def call(self, body: str, timeout: float | None = None):
        """Evaluate an Erlang expression with Node bound to the target: on the node itself over the own
        connection, else on a control node.

        Returns the term, or NODEDOWN when the node cannot be reached (unreachable_reason says why).
        """
        self.lost = None
        if self.native is not None and self.native.idle():
            self.native.close()
            self.native = None
        for _attempt in range(2):  # a connection found dead before the question ran is made again, once
            if self.native is None:
                self.unreachable_reason = self.precheck()
                if self.unreachable_reason:
                    return NODEDOWN
            conn = self._session()
            if conn is None:
                break
            self.unreachable_reason = None
            answer = self._evaluate(conn, body, timeout)
            if answer is not NOT_SENT:
                return answer
        if self.refused:
            self.unreachable_reason = self.refused_reason()
            return NODEDOWN
        if not self.cookies:
            self.unreachable_reason = (
                f"node {self.name} runs, but no cookie was found to reach it ({self.tried()}): "
                "give the node's cookie with cookie_file or cookie"
            )
            return NODEDOWN
        host = self.name.partition("@")[2]
        ctl = _edp.own_name(host)
        dist = ["-start_epmd", "false"] if self.vm_args.uses_epmd() else self.vm_args.dist_args()
        with tempfile.TemporaryDirectory(prefix="beamops-erl-") as home:
            cookies_path = os.path.join(home, "cookies.eterm")
            # The control node's own cookie is a throwaway: the cookies to try are set per node.
            write_private(os.path.join(home, ".erlang.cookie"), secrets.token_hex(16), 0o400)
            terms = ", ".join(_dist.erl_atom(c.value) for c in self.cookies)
            write_private(cookies_path, f"[{terms}].\n", 0o600)
            program = (
                f"Node = {_dist.erl_atom(self.name)}, "
                f"{{ok, [Cookies]}} = file:consult({_dist.erl_quoted(cookies_path)}), "
                "Reach = fun Reach([], _) -> 0; Reach([C | Rest], I) -> erlang:set_cookie(Node, C), "
                "case net_adm:ping(Node) of pong -> I; pang -> Reach(Rest, I + 1) end end, "
                f"Result = case Reach(Cookies, 1) of 0 -> {NODEDOWN}; "
                f"Index -> {{beamops_reached, Index, ({body})}} end, "
                f'io:format("~n{RESULT_MARKER}~n~p.~n", [Result]), halt(0).'
            )
            argv = [
                self.release.erl(),
                "-noshell",
                "-noinput",
                "-hidden",
                self.name_flag,
                ctl,
                *dist,
                *self.release.boot_args(),
                "-eval",
                program,
            ]
            rc, out, err = self.module.run_command(argv, environ_update={"HOME": home, "ERL_CRASH_DUMP_SECONDS": "0"})
        if rc != 0 or RESULT_MARKER not in out:
            raise OtpError(
                f"could not reach node {self.name} through {argv[0]} (rc={rc}): {(err or out).strip()[-400:]}"
            )
        text = out.split(RESULT_MARKER, 1)[1]
        try:
            answer = _erlterm.parse(text.strip())
        except _erlterm.TermError as exc:
            raise OtpError(f"could not read the answer of node {self.name}: {exc}: {text[:300]!r}") from exc
        if answer == NODEDOWN:
            self.unreachable_reason = self.refused_reason()
            return NODEDOWN
        _tag, index, result = answer
        winner = self.cookies.pop(index - 1)
        self.cookies.insert(0, winner)  # the next calls try it first
        self.cookie_source = winner.source
        return result

    def rpc(self, mod: str, fun: str, args: str = "[]", timeout: float | None = None):
        """rpc:call on the node; returns (result, milliseconds measured on the control node)."""
        ms = int((timeout or self.timeout) * 1000)
        body = (
            f"begin {{T, R}} = timer:tc(rpc, call, [Node, {mod}, {fun}, {args}, {ms}]), "
            f"{{beamops_timed, T div 1000, R}} end"
        )
        start = time.monotonic()
        answer = self.call(body, timeout)
        if answer == NODEDOWN:
            # Sent but not answered: what rpc:call says of a node that went away (or took too long).
            return (self.lost, int((time.monotonic() - start) * 1000)) if self.lost else (NODEDOWN, 0)
        _tag, elapsed, result = answer
        return result, elapsed

    def status_body(self, timeout: float | None = None) -> str:
        """The one question every module asks a node: an expression with Node bound, evaluated alone
        (status) or at the end of a longer program; parse_status reads its answer. Each part is its own
        rpc call, bounded by ``timeout``, so a part that fails is named rather than losing the rest."""
        ms = max(100, int((timeout or self.timeout) * 1000))
        return (
            "{beamops_status, Node,"
            f" rpc:call(Node, release_handler, which_releases, [], {ms}),"
            f" rpc:call(Node, erlang, whereis, [application_controller], {ms}),"
            f" rpc:call(Node, os, getpid, [], {ms}),"
            f" rpc:call(Node, application, which_applications, [{ms}], {ms}),"
            f" rpc:call(Node, code, root_dir, [], {ms}),"
            f" rpc:call(Node, init, script_id, [], {ms})}}"
        )

    def status(self, timeout: float | None = None) -> dict:
        """Node up/down, its releases and statuses, and markers that change when it restarts."""
        return self.parse_status(self.call(self.status_body(timeout), timeout))

    def parse_status(self, answer) -> dict:
        """The dict of status() from the answer to status_body() (or NODEDOWN)."""
        return parse_status(answer, self.name, self.cookie_source, self.unreachable_reason)

    def status_then(
        self, version: str, when_status: str, mod: str, fun: str, args: str, timeout: float | None = None
    ) -> tuple[dict, object]:
        """The node's status, then one rpc call made only when the status lists release ``version`` with
        ``when_status`` (e.g. make_permanent of a release still ``current``), in one control node.

        Returns (status as status() gives it, the call's result or None when it was not made).
        """
        ms = int((timeout or self.timeout) * 1000)
        has = (
            f"fun({{_, V, _, St}}) -> V =:= {erl_string(version)} andalso St =:= {_dist.erl_atom(when_status)};"
            " (_) -> false end"
        )
        body = (
            f"begin S = {self.status_body(timeout)}, "
            f"R = case is_list(element(3, S)) andalso lists:any({has}, element(3, S)) of "
            f"true -> rpc:call(Node, {mod}, {fun}, {args}, {ms}); false -> beamops_not_run end, "
            "{beamops_status_then, S, R} end"
        )
        answer = self.call(body, timeout)
        if answer == NODEDOWN:
            return self.parse_status(NODEDOWN), None
        _tag, status, result = answer
        return self.parse_status(status), (None if result == "beamops_not_run" else result)

    def steps(self, mod: str, calls: list[tuple[str, str]], timeout: float | None = None) -> tuple[list, dict | None]:
        """Several rpc calls of ``mod``, each made only when the one before answered ``ok`` or ``{ok, ...}``,
        then the node's status when the last one did.

        ``calls`` are (function, Erlang argument list). Each is its own question, so a node that goes away
        during one (install_release restarting it) leaves that call answered {badrpc, nodedown}, as
        rpc:call answers it, and the later ones not made. Returns [(result, milliseconds) or None for a
        call not made, ...] and the status (None when not read); NODEDOWN when the node cannot be reached
        for the first call.
        """
        made: list = []
        for fun, args in calls:
            if made and (made[-1] is None or not answered_ok(made[-1][0])):
                made.append(None)
                continue
            result, elapsed = self.rpc(mod, fun, args, timeout)
            if result == NODEDOWN:  # not reached at all: nothing was asked
                if not made:
                    return NODEDOWN, None
                result = (_erlterm.Atom("badrpc"), _erlterm.Atom("nodedown"))
            made.append((result, elapsed))
        last = made[-1] if made else None
        return made, (self.status(timeout) if last is not None and answered_ok(last[0]) else None)

    def wait_up(self, timeout: float, sleep: float = 0.5) -> dict:
        """Poll until the node answers with a started release_handler, or the timeout passes."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                state = self.status()
                if state["up"] and state["releases"]:
                    return state
            except (OtpError, ValueError, TypeError):
                state = {"up": False}
            if time.monotonic() >= deadline:
                return state
            time.sleep(sleep)


def release_node(
    module,
    params: dict,
    release: ReleaseRoot | None = None,
    timeout: float | None = None,
    timeout_option: str = "timeout_s",
) -> tuple[ReleaseRoot, Node]:
    """The release under params' root and name (or the one given, which names its node itself), and its Node
    reached with the node options (node_argument_spec's), within timeout (params' timeout_s by default). OtpError
    naming what is missing when there is no release there, or when the node cannot be addressed."""
    node_name = None
    if release is None:
        release = ReleaseRoot.locate(params["root"], params["name"])
        if not release.exists():
            raise OtpError(f"{release.missing()}: check name and root")
        node_name = params["node_name"]
    node = Node(
        module,
        release,
        timeout=params["timeout_s"] if timeout is None else timeout,
        cookie=params["cookie"],
        cookie_file=params["cookie_file"],
        node_name=node_name,
        timeout_option=timeout_option,
    )
    return release, node


def parse_status(answer, name: str, cookie_source: str | None = None, unreachable_reason: str | None = None) -> dict:
    """A node's answer to Node.status_body() as a dict: up, its releases (name, version, status), the
    running and permanent versions, the OS pid and a marker that changes when the VM restarts, the
    started applications, the directory it runs from, and ``rpc_errors`` for each part that failed
    (e.g. ``release_handler`` on a node without sasl: the running version is then the boot script's)."""
    down = {
        "up": False,
        "name": name,
        "cookie_source": None,
        "unreachable_reason": unreachable_reason,
        "releases": [],
        "running_version": None,
        "permanent_version": None,
        "os_pid": None,
        "restart_marker": None,
        "applications": [],
        "root_dir": None,
        "rpc_errors": {},
    }
    if answer == NODEDOWN:
        return down
    if not (isinstance(answer, tuple) and len(answer) == 8 and answer[0] == "beamops_status"):
        raise OtpError(f"the answer of node {name} is not understood: {_erlterm.format_term(answer, 300)}")
    _tag, node, releases, marker, os_pid, apps, root_dir, script_id = answer
    parts = {
        "release_handler": releases,
        "application_controller": marker,
        "os": os_pid,
        "application": apps,
        "code": root_dir,
        "init": script_id,
    }
    errors = {
        what: _erlterm.format_term(value, 300)
        for what, value in parts.items()
        if isinstance(value, tuple) and value[:1] == ("badrpc",)
    }
    rels = [
        {"name": str(r[0]), "version": str(r[1]), "status": str(r[3])}
        for r in (releases if isinstance(releases, list) else [])
        if isinstance(r, tuple) and len(r) == 4
    ]
    version = running_version(rels)
    if version is None and isinstance(script_id, tuple) and len(script_id) == 2 and "init" not in errors:
        version = str(script_id[1])  # release_handler not running (no sasl): the boot script's release
    return dict(
        down,
        up=True,
        name=str(node),  # the name the node was reached by
        cookie_source=cookie_source,
        unreachable_reason=None,
        releases=rels,
        running_version=version,
        permanent_version=next((r["version"] for r in rels if r["status"] == "permanent"), None),
        os_pid=None if "os" in errors else str(os_pid),
        # The OS pid changes when the VM restarts (heart, systemd), the application controller's pid when
        # init:restart() restarts it in place: the marker changes either way. A pid printed by a control
        # VM carries its own index for the node (<9744.44.0>); read over the own connection it prints as
        # <0.44.0>: the marker of one VM is the same either way.
        restart_marker=(
            None
            if errors.keys() & {"application_controller", "os"}
            else f"{os_pid}/" + re.sub(r"^<\d+\.", "<0.", str(marker))
        ),
        applications=[str(a[0]) for a in (apps if isinstance(apps, list) else []) if isinstance(a, tuple) and a],
        root_dir=None if "code" in errors else str(root_dir),
        rpc_errors=errors,
    )


def answered_ok(result) -> bool:
    """ok or {ok, ...}: what release_handler and application answer when they did what was asked."""
    return result == "ok" or (isinstance(result, tuple) and result[:1] == ("ok",))


def write_private(path: str, text: str, mode: int) -> None:
    """Create path with mode (owner only), failing if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def running_version(releases: list[dict]) -> str | None:
    """The release the node runs: the one marked current (installed, not yet permanent), else permanent."""
    for wanted in ("current", "permanent"):
        for rel in releases:
            if rel["status"] == wanted:
                return rel["version"]
    return None


def relup_from_tarball(tarball: str, version: str) -> str:
    """Text of releases/<version>/relup inside a release tarball."""
    member = f"releases/{version}/relup"
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            handle = tar.extractfile(member)
            if handle is None:
                raise KeyError(member)
            return handle.read().decode("utf-8")
    except KeyError:
        raise OtpError(
            f"tarball {tarball} has no {member}: build the release with a relup "
            f"(rebar3 relup -v {version} -u <running version>)"
        ) from None
    except (OSError, tarfile.TarError, UnicodeDecodeError) as exc:
        raise OtpError(f"cannot read tarball {tarball}: {exc}") from exc


def relup_sources(relup_text: str) -> tuple[str, list[str], list[str]]:
    """(target version, versions it upgrades from, versions it downgrades to) of a relup file."""
    terms = _erlterm.parse_all(relup_text)
    if len(terms) != 1 or not isinstance(terms[0], tuple) or len(terms[0]) != 3:
        raise ValueError("a relup file holds one {Vsn, UpFrom, DownTo} term")
    target, ups, downs = terms[0]
    return str(target), [str(u[0]) for u in ups], [str(d[0]) for d in downs]


def erl_string(value: str) -> str:
    """An Erlang string literal for value (versions and names go into -eval programs)."""
    if not re.fullmatch(r"[A-Za-z0-9._+\-/@]+", value):
        raise ValueError(f"refusing {value!r} in an Erlang call: only letters, digits and ._+-/@ allowed")
    return f'"{value}"'
