# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A health endpoint that flaps: 200, 500, 200, 500, ... on 127.0.0.1:PORT for at most LIFETIME seconds.

    python3 flapping_http.py PORT LIFETIME [STOP_FILE FOLLOW_URL]

With STOP_FILE and FOLLOW_URL: once STOP_FILE exists it stops flapping and answers the status that
FOLLOW_URL answers (e.g. the node's own /health). Copied into a lab container by the lb_modules and
faults scenarios (standard library only); it writes its pid next to itself (<name>.pid), so that a
test can stop exactly this process.
"""

import os
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT = int(sys.argv[1])
LIFETIME = float(sys.argv[2])
STOP, FOLLOW = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else (None, None)
COUNT = [0]


def followed_status() -> int:
    try:
        with urllib.request.urlopen(FOLLOW, timeout=2) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 503


class Flapping(BaseHTTPRequestHandler):
    def do_GET(self):
        COUNT[0] += 1
        if STOP and os.path.exists(STOP):
            status = followed_status()
        else:
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
