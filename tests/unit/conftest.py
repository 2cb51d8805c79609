# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import atexit
import os
import shutil
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
