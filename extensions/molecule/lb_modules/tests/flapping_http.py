# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A service that flaps: 200, 500, 200, 500, ... on 127.0.0.1:PORT, for at most LIFETIME seconds.

Copied into a lab container by the verifier; it writes its pid next to itself so that the test
can stop exactly this process.
"""

import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT = int(sys.argv[1])
LIFETIME = float(sys.argv[2])
COUNT = [0]


class Flapping(BaseHTTPRequestHandler):
    def do_GET(self):
        COUNT[0] += 1
        status = 200 if COUNT[0] % 2 else 500
        body = b"ok\n" if status == 200 else b"flapping\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


with open(os.path.splitext(__file__)[0] + ".pid", "w", encoding="utf-8") as handle:
    handle.write(str(os.getpid()))
server = HTTPServer(("127.0.0.1", PORT), Flapping)
threading.Timer(LIFETIME, server.shutdown).start()
server.serve_forever()
