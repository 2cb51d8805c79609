# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _collections_dir() -> Path:
    """A directory whose ansible_collections/beamops/deploy is this work tree, for the FQCN imports.

    The tree itself when it already sits at ansible_collections/beamops/deploy (ansible-test's copy),
    else the link `make collection` makes, else a private link removed at exit.
    """
    if ROOT.parent.parent.name == "ansible_collections":
        return ROOT.parents[2]
    made = ROOT / ".build" / "collections"
    if (made / "ansible_collections" / "beamops" / "deploy").resolve() == ROOT:
        return made
    private = Path(tempfile.mkdtemp(prefix="beamops-unit-"))
    atexit.register(shutil.rmtree, private, ignore_errors=True)
    link = private / "ansible_collections" / "beamops" / "deploy"
    link.parent.mkdir(parents=True)
    os.symlink(ROOT, link)
    return private


sys.path.insert(0, str(_collections_dir()))


class _Answering(BaseHTTPRequestHandler):
    """GET answered by the server's respond(handler): (status, body, extra headers) sent as JSON, or None
    when respond wrote the answer itself."""

    def do_GET(self):
        answer = self.server.respond(self)
        if answer is None:
            return
        status, body, headers = answer
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def serve_http():
    """serve(respond, **server_attributes) -> the base URL of a threaded HTTP server on a free loopback
    port whose GETs respond(handler) answers (see _Answering), the attributes set on the server object;
    every server is closed at teardown."""
    servers = []

    def serve(respond, **attributes):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), _Answering)
        srv.respond = respond
        for name, value in attributes.items():
            setattr(srv, name, value)
        threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield serve
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def ansible_playbook():
    """run(*args, env, cwd=None) -> the CompletedProcess of the ansible-playbook beside this Python (the
    venv's, as `make unit` puts first on PATH), its output captured as text, no stdin, two minutes at the
    most. Skips the test where there is none (a target test's Python has no ansible)."""
    exe = Path(sys.executable).with_name("ansible-playbook")
    if not exe.exists():
        pytest.skip(f"no ansible-playbook beside {sys.executable}")

    def run(*args, env, cwd=None):
        argv = [str(exe), *args]
        return subprocess.run(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False
        )

    return run


class Peer:
    """A hostile server: a listening unix socket (in a directory of its own under /tmp, for a short path)
    or TCP loopback socket, whose every connection behave(peer, conn, command) serves in a thread of its
    own, after reading the command (the first bytes sent). address: the socket's path, or (host, port);
    where: how a message names it. The standard library only: target tests use it under every Python."""

    def __init__(self, behave, tcp=False):
        self.behave = behave
        self.stop = threading.Event()
        self.conns = []
        self.dir = None
        if tcp:
            self.listener = socket.socket()
            self.listener.bind(("127.0.0.1", 0))
            self.address = self.listener.getsockname()
            self.where = "tcp://{}:{}".format(*self.address)
        else:
            self.dir = tempfile.mkdtemp(prefix="hpeer", dir="/tmp")
            self.address = self.where = os.path.join(self.dir, "admin.sock")
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(self.address)
        self.listener.listen(8)
        self.listener.settimeout(0.05)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stop.is_set():
            try:
                conn, _addr = self.listener.accept()
            except OSError:
                continue
            self.conns.append(conn)
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        try:
            command = conn.recv(4096).decode(errors="replace").strip()
            self.behave(self, conn, command)
        except OSError:
            pass  # the client gave up
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.listener.close()
        for conn in self.conns:
            conn.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class Peers:
    """What the peer fixture gives: peer(behave, tcp=False) -> a running Peer, closed after the test; and
    the two behaviours that hostile tests share, peer.silent and peer.flooding(block)."""

    def __init__(self, request):
        self.request = request

    def __call__(self, behave, tcp=False):
        made = Peer(behave, tcp)
        self.request.addfinalizer(made.close)
        return made

    @staticmethod
    def silent(peer, _conn, _command):
        """Never answers (until the peer is closed)."""
        peer.stop.wait(10)

    @staticmethod
    def flooding(block):
        """A behaviour that sends block after block until the peer is closed."""

        def flood(peer, conn, _command):
            while not peer.stop.is_set():
                conn.sendall(block)

        return flood


@pytest.fixture
def peer(request):
    """peer(behave, tcp=False) -> a running Peer, closed after the test (see Peers)."""
    return Peers(request)
