# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A health endpoint that flaps (200, 500, 200, ...) on 127.0.0.1:PORT for at most LIFETIME seconds,
until /tmp/beamops-flap.stop exists: from then on it answers what the node's own /health on
127.0.0.1:8080 answers. Copied into a node by the faults scenario; writes its pid to /tmp/beamops-flap.pid.
"""

import os
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT = int(sys.argv[1])
LIFETIME = float(sys.argv[2])
STOP = "/tmp/beamops-flap.stop"
COUNT = [0]


def real_status() -> int:
    try:
        with urllib.request.urlopen("http://127.0.0.1:8080/health", timeout=2) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 503


class Flapping(BaseHTTPRequestHandler):
    def do_GET(self):
        COUNT[0] += 1
        status = real_status() if os.path.exists(STOP) else 200 if COUNT[0] % 2 else 500
        body = b"ok\n" if status == 200 else b"unhealthy\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


with open("/tmp/beamops-flap.pid", "w", encoding="utf-8") as handle:
    handle.write(str(os.getpid()))
server = HTTPServer(("127.0.0.1", PORT), Flapping)
threading.Timer(LIFETIME, server.shutdown).start()
server.serve_forever()
