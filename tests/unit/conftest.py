# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import atexit
import os
import shutil
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer
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


@pytest.fixture
def serve_http():
    """serve(handler_class, **server_attributes) -> the base URL of a threaded HTTP server on a free
    loopback port, the attributes set on the server object first; every server is closed at teardown."""
    servers = []

    def serve(handler, **attributes):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        for name, value in attributes.items():
            setattr(srv, name, value)
        threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield serve
    for srv in servers:
        srv.shutdown()
        srv.server_close()
