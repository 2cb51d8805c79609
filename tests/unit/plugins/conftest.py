# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the plugin tests: a fake HAProxy runtime API on a temporary unix socket (or TCP
loopback), a loopback HTTP server, a fake epmd, real erl nodes with their own epmd, a runner for a
module's main(), and reproducible release tarballs."""

from __future__ import annotations

import gzip
import io
import json
import os
import secrets
import shutil
import socket
import socketserver
import subprocess
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import pytest
from ansible.module_utils import _internal
from ansible.module_utils.common import warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.beamops.deploy.plugins.module_utils._dist import epmd_names


@pytest.fixture(autouse=True)
def as_on_a_target(request, monkeypatch):
    """Modules run on targets, where warnings go into the result. Importing controller code (a filter's
    test does, at collection) flips ansible's process-wide is_controller flag: keep it off for the rest."""
    if "filter" not in request.node.nodeid.split("::")[0]:
        monkeypatch.setattr(_internal, "is_controller", False)


STATE_HEADER = (
    "be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl "
    "srv_check_port srv_check_addr srv_agent_addr srv_agent_port"
)
# A subset of HAProxy 2.6's columns, in another order than HAProxy's: the parser must go by name.
STAT_COLUMNS = ["pxname", "svname", "status", "qcur", "qmax", "scur", "smax", "weight", "check_status", "uweight"]


class FakeServer:
    """One backend member: admin bits, operational state, sessions (scur may be a script of values)."""

    def __init__(self, admin=0, op=2, check_result=3, weight=1, scur=0, qcur=0, shown=None):
        self.shown = shown  # a status column to show as is, such as "UP 1/3" (UP, going down)
        self.admin = admin
        self.op = op
        self.check_result = check_result
        self.weight = weight
        self.scur = scur if isinstance(scur, list) else [scur]
        self.qcur = qcur

    def status(self) -> str:
        if self.shown:
            return self.shown
        if self.admin & 0x27:
            return "MAINT"
        if self.op == 0:
            return "DOWN"
        return "DRAIN" if self.admin & 0x18 else "UP"

    def read_scur(self) -> int:
        # Each read moves the script on by one value; the last one stays.
        return self.scur.pop(0) if len(self.scur) > 1 else self.scur[0]


class FakeHAProxy:
    """Answers like HAProxy 2.6's runtime API: one command per connection, then it closes."""

    def __init__(self, backends: dict[str, dict[str, FakeServer]]):
        self.backends = backends
        self.commands: list[str] = []
        self.level = "admin"
        self.drip = None  # seconds between two bytes of every answer: a server that answers slowly
        self.address = None
        self._server = None

    @property
    def set_commands(self) -> list[str]:
        return [c for c in self.commands if c.startswith(("set ", "shutdown "))]

    def answer(self, line: str) -> str:
        # Like HAProxy, one line may hold several commands separated by ';'.
        return "".join(self.answer_one(command.strip()) for command in line.split(";"))

    def answer_one(self, command: str) -> str:
        self.commands.append(command)
        words = command.split()
        if command == "show cli level":
            return f"{self.level}\n"
        if words[:3] == ["show", "servers", "state"]:
            return self._servers_state(words[3] if len(words) > 3 else None)
        if words[:2] == ["show", "stat"]:
            return self._stat(words[2])
        if words[:2] == ["set", "server"] or words[:3] == ["shutdown", "sessions", "server"]:
            if self.level != "admin":
                return "Permission denied\n"
            return self._set(words)
        return "Unknown command.\n"

    def _servers_state(self, backend):
        if backend is not None and backend not in self.backends:
            return "Can't find backend.\n"
        lines = ["1", f"# {STATE_HEADER}"]
        for be_id, (be_name, servers) in enumerate(self.backends.items(), start=3):
            if backend not in (None, be_name):
                continue
            for srv_id, (name, srv) in enumerate(servers.items(), start=1):
                lines.append(
                    f"{be_id} {be_name} {srv_id} {name} 10.0.0.{srv_id} {srv.op} {srv.admin} {srv.weight} 1 5 "
                    f"15 {srv.check_result} 3 6 0 0 0 {name} 8080 - 0 0 - - 0"
                )
        return "\n".join(lines) + "\n\n"

    def _stat(self, backend):
        if backend not in self.backends:
            return "No such proxy.\n"
        lines = ["# " + ",".join(STAT_COLUMNS)]
        for name, srv in self.backends[backend].items():
            row = {
                "pxname": backend,
                "svname": name,
                "status": srv.status(),
                "qcur": srv.qcur,
                "scur": srv.read_scur(),
                "weight": srv.weight,
                "uweight": srv.weight,
                "check_status": "L7OK",
            }
            lines.append(",".join(str(row.get(c, "")) for c in STAT_COLUMNS))
        return "\n".join(lines) + "\n\n"

    def _set(self, words):
        backend, _sep, name = words[-3 if words[0] == "set" else -1].partition("/")
        srv = self.backends.get(backend, {}).get(name)
        if srv is None:
            return "No such server.\n" if backend in self.backends else "No such backend.\n"
        if words[0] == "shutdown":
            srv.scur = [0]
            return "\n"
        if words[3] == "weight":
            srv.weight = int(words[4])
        elif words[4] == "ready":
            srv.admin &= ~0x09
        elif words[4] == "drain":
            srv.admin = (srv.admin & ~0x01) | 0x08
        elif words[4] == "maint":
            srv.admin |= 0x01
        return "\n"

    def start(self, tcp: bool = False) -> FakeHAProxy:
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                line = self.rfile.readline().decode().strip()
                answer = fake.answer(line).encode()
                if fake.drip is None:
                    self.wfile.write(answer)
                    return
                try:
                    for i in range(len(answer)):
                        self.wfile.write(answer[i : i + 1])
                        self.wfile.flush()
                        time.sleep(fake.drip)
                except OSError:
                    pass  # the client gave up

        if tcp:
            self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
            self.address = self._server.server_address
        else:
            self._dir = tempfile.mkdtemp(prefix="hap", dir="/tmp")
            self.address = str(Path(self._dir) / "admin.sock")
            self._server = socketserver.ThreadingUnixStreamServer(self.address, Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if isinstance(self.address, str):
            shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture
def fake_server():
    """The FakeServer class, to describe members: fake_server(admin=8, scur=[3, 1, 0])."""
    return FakeServer


@pytest.fixture
def haproxy():
    """make(backends, tcp=False) -> a running FakeHAProxy; stopped after the test."""
    started = []

    def make(backends=None, tcp=False):
        backends = backends or {"beam_nodes": {"node1": FakeServer(), "node2": FakeServer()}}
        started.append(FakeHAProxy(backends).start(tcp=tcp))
        return started[-1]

    yield make
    for fake in started:
        fake.stop()


@pytest.fixture
def http_server(serve_http):
    """make(fixed=None) -> base URL of a loopback server answering 200, 500, 200, 500, ... across all its
    requests (or always `fixed`)."""

    def make(fixed=None):
        def respond(handler):
            server = handler.server
            with server.lock:
                server.count += 1
                status = fixed or (200 if server.count % 2 else 500)
            body = b'{"status":"ok"}' if status == 200 else b'{"status":"failing"}'
            return status, body, {"x-beamops-version": "1.0.0"}

        return serve_http(respond, count=0, lock=threading.Lock())

    return make


class FakeEpmd(socketserver.ThreadingTCPServer):
    """Answers epmd's NAMES_REQ on loopback with the names it is given (a dict name -> port)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, names: dict[str, int]):
        self.names = names
        self.requests = 0

        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                if self.request.recv(3) == b"\x00\x01n":
                    fake.requests += 1
                    lines = "".join(f"name {n} at port {p}\n" for n, p in fake.names.items())
                    self.request.sendall((4369).to_bytes(4, "big") + lines.encode())

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def fake_epmd(monkeypatch):
    """make(names) -> a FakeEpmd on a free loopback port, which ERL_EPMD_PORT points at."""
    started = []

    def make(names=None):
        server = FakeEpmd(dict(names or {}))
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        monkeypatch.setenv("ERL_EPMD_PORT", str(server.server_address[1]))
        started.append(server)
        return server

    yield make
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def raw_http(peer):
    """raw_http(behave) -> base URL of a loopback server (the root conftest's peer) whose connections
    behave(stop, conn) serves after reading the request (raw bytes: a body that never ends, one that drips,
    no answer at all)."""

    def make(behave):
        host, port = peer(lambda server, conn, _request: behave(server.stop, conn), tcp=True).address
        return f"http://{host}:{port}/health"

    return make


@pytest.fixture
def run_module(capsys):
    """run_module(module, args) -> the module's JSON result (exit_json or fail_json), with only the
    warnings and deprecations of this run (Ansible keeps them process-wide)."""

    def run(module, args):
        warnings._global_warnings.clear()
        warnings._global_deprecations.clear()
        with patch_module_args(args), pytest.raises(SystemExit):
            module.main()
        return json.loads(capsys.readouterr().out)

    return run


def write_tarball(path, members, gzipped=True) -> str:
    """members: (name, data bytes or None for a directory, mode). The same input gives the same bytes:
    every mtime is 0, the gzip header's too (by default it carries the current second)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.mtime, info.mode = 0, mode
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    with open(path, "wb") as out:
        if not gzipped:
            out.write(raw.getvalue())
        else:
            with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as packed:
                packed.write(raw.getvalue())
    return str(path)


def release_members(name="app", version="1.0.0", extra=b"", apps=None, omit=(), files=0, more=()) -> list:
    """The members of a relx-like release: bin/<name>, releases/<vsn>/<name>.rel naming its applications,
    one lib/<app>-<vsn>/ per application, and a releases/COOKIE readable by its owner only. Like relx's,
    the start script has its version written into it (REL_VSN), which a cold start boots. `more`: members
    to add (name, data, mode), e.g. a hostile one."""
    apps = apps if apps is not None else [("kernel", "8.5.3"), (name, version)]
    app_terms = ",".join(f'{{{app},"{vsn}"}}' for app, vsn in apps)
    rel = f'{{release,{{"{name}","{version}"}},{{erts,"13.1.5"}},[{app_terms}]}}.\n'.encode() + extra
    members = [
        (f"bin/{name}", f'#!/bin/sh\nREL_VSN="{version}"\n'.encode(), 0o755),
        (f"releases/{version}/{name}.rel", rel, 0o644),
        ("releases/COOKIE", b"SECRETCOOKIE", 0o400),
    ]
    members += [(f"lib/{app}-{vsn}/ebin/{app}.app", b"{application, x, []}.\n", 0o644) for app, vsn in apps]
    members += [(f"lib/{name}-{version}/ebin/m{i}.beam", b"beam" * 10, 0o644) for i in range(files)]
    members += list(more)
    return [m for m in members if not any(m[0].startswith(prefix) for prefix in omit)]


@pytest.fixture
def release_tarball():
    """release_tarball(path, name="app", version="1.0.0", extra=b"", apps=None, omit=(), files=0, more=()) -> path
    of a reproducible release tarball (see release_members)."""

    def make(path, name="app", version="1.0.0", **kw):
        return write_tarball(path, release_members(name, version, **kw))

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (free a moment ago)."""
    return free_port()


@pytest.fixture
def real_node(tmp_path, monkeypatch):
    """start(cookie_args, node_home) -> name of a real erl node, with its own epmd on a free port."""
    if not (shutil.which("erl") and shutil.which("epmd")):
        pytest.skip("needs erl and epmd")
    port = free_port()
    monkeypatch.setenv("ERL_EPMD_PORT", str(port))
    procs = [subprocess.Popen(["epmd", "-port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]

    def start(cookie_args, node_home):
        name = f"beamops_ut_{secrets.token_hex(3)}"
        env = dict(os.environ, HOME=str(node_home))
        argv = ["erl", "-noshell", "-noinput", "-sname", name, *cookie_args]
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if name in epmd_names("127.0.0.1", port, timeout=1):  # the real epmd answers NAMES_REQ
                    return name
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"erl node {name} did not register with epmd on port {port}")

    yield start
    for proc in reversed(procs):
        proc.kill()
        proc.wait()
