#!/usr/bin/env python3
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded HTTP load generator for the beamops lab.

Sends a mix of short and slow requests to one HTTP endpoint (HAProxy in the lab) for a bounded
time, records every request (outcome, latency, the release version and node that answered) and
prints a JSON summary. Standard library only.

Every request opens its own connection, so a node that is stopped while it still holds a slow
request shows up as a failed request: the lab can prove that draining matters.

It stops by itself at --duration, at --max-requests, on SIGTERM/SIGINT, or when --stop-file
appears, and then prints the summary (and writes it to --summary).
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import random
import signal
import socket
import sys
import threading
import time
import urllib.parse
from pathlib import Path

MAX_DURATION = 3600.0
MAX_CONCURRENCY = 64
SLOW_PATH = "/slow"


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of values (pct in 0..100); None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-pct * len(ordered) // 100)))  # ceil without floats drifting
    return ordered[min(rank, len(ordered)) - 1]


def classify_error(exc: BaseException) -> str:
    """Short, stable name for what went wrong with a request."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, ConnectionResetError):
        return "connection_reset"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, http.client.IncompleteRead):
        return "incomplete_body"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "remote_disconnected"
    if isinstance(exc, (http.client.HTTPException, ValueError)):
        return "bad_response"
    if isinstance(exc, OSError):
        return "os_error"
    return type(exc).__name__


def summarize(records: list[dict], duration: float) -> dict:
    """Build the JSON summary from the request records."""
    ok = [r for r in records if r["outcome"] == "ok"]
    failed = [r for r in records if r["outcome"] != "ok"]
    errors: dict[str, int] = {}
    for rec in failed:
        errors[rec["outcome"]] = errors.get(rec["outcome"], 0) + 1
    latencies = [r["latency_ms"] for r in ok]
    versions: dict[str, int] = {}
    nodes: dict[str, int] = {}
    for rec in ok:
        versions[rec["version"]] = versions.get(rec["version"], 0) + 1
        nodes[rec["node"]] = nodes.get(rec["node"], 0) + 1
    timeline: dict[int, dict] = {}
    for rec in records:
        second = int(rec["t"])
        bucket = timeline.setdefault(second, {"t": second, "ok": 0, "failed": 0, "versions": {}})
        if rec["outcome"] == "ok":
            bucket["ok"] += 1
            bucket["versions"][rec["version"]] = bucket["versions"].get(rec["version"], 0) + 1
        else:
            bucket["failed"] += 1

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "requests": len(records),
        "ok": len(ok),
        "failed": len(failed),
        "errors": errors,
        "first_failures": [{k: r[k] for k in ("t", "path", "outcome", "detail")} for r in failed[:5]],
        "latency_ms": {
            "p50": rounded(percentile(latencies, 50)),
            "p99": rounded(percentile(latencies, 99)),
            "max": rounded(max(latencies) if latencies else None),
        },
        "slow_requests": sum(1 for r in records if r["path"].startswith(SLOW_PATH)),
        "versions": versions,
        "nodes": nodes,
        "timeline": [timeline[k] for k in sorted(timeline)],
        "duration_s": round(duration, 2),
        "rps": round(len(records) / duration, 1) if duration > 0 else 0.0,
    }


def check_target(host: str, allow_remote: bool) -> None:
    """Refuse to send load anywhere but this machine unless explicitly allowed."""
    if allow_remote:
        return
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise SystemExit(f"loadgen: cannot resolve --url host {host!r}: {exc}") from exc
    for info in infos:
        if not ipaddress.ip_address(info[4][0]).is_loopback:
            raise SystemExit(
                f"loadgen: --url host {host!r} resolves to {info[4][0]}, not a loopback address; "
                "publish the load balancer on 127.0.0.1 or pass --allow-remote for your own test hosts"
            )


class LoadGenerator:
    """Threads that send requests until a deadline, a request budget or a stop signal."""

    def __init__(self, args: argparse.Namespace) -> None:
        url = urllib.parse.urlsplit(args.url)
        if url.scheme != "http" or not url.hostname:
            raise SystemExit(f"loadgen: --url must look like http://HOST:PORT, got {args.url!r}")
        self.host = url.hostname
        self.port = url.port or 80
        self.base = url.path.rstrip("/")
        self.args = args
        self.records: list[dict] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sent = 0
        self.rng = random.Random(args.seed)
        low, _, high = args.slow_ms.partition("-")
        self.slow_range = (int(low), int(high or low))

    def pick_path(self) -> str:
        with self.lock:
            roll = self.rng.random()
            slow_ms = self.rng.randint(*self.slow_range)
            fast = self.rng.choice(self.args.path)
        if roll < self.args.slow_ratio:
            return f"{self.base}{SLOW_PATH}?ms={slow_ms}"
        return f"{self.base}{fast}"

    def take_budget(self) -> bool:
        with self.lock:
            if self.args.max_requests and self.sent >= self.args.max_requests:
                return False
            self.sent += 1
            return True

    def one_request(self, started: float) -> dict:
        path = self.pick_path()
        t0 = time.monotonic()
        # One record per request: t (s since start), path, outcome, status, version, node.
        rec = {
            "t": round(t0 - started, 3),
            "path": path,
            "outcome": "ok",
            "status": None,
            "version": None,
            "node": None,
            "detail": None,
        }
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.args.timeout)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            resp = conn.getresponse()
            body = resp.read()
            rec["status"] = resp.status
            rec["version"] = resp.getheader("x-beamops-version")
            rec["node"] = resp.getheader("x-beamops-node")
            if resp.status != 200:
                rec["outcome"] = f"status_{resp.status}"
                rec["detail"] = body[:200].decode("utf-8", "replace")
            else:
                data = json.loads(body)
                rec["version"] = rec["version"] or data.get("version")
                rec["node"] = rec["node"] or data.get("node")
                if not rec["version"]:
                    rec["outcome"] = "bad_response"
                    rec["detail"] = "no version in the answer"
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none is fatal
            rec["outcome"] = classify_error(exc)
            rec["detail"] = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            conn.close()
        rec["latency_ms"] = round((time.monotonic() - t0) * 1000, 2)
        return rec

    def worker(self, started: float, deadline: float) -> None:
        stop_file = Path(self.args.stop_file) if self.args.stop_file else None
        while not self.stop.is_set() and time.monotonic() < deadline:
            if stop_file is not None and stop_file.exists():
                self.stop.set()
                break
            if not self.take_budget():
                break
            rec = self.one_request(started)
            with self.lock:
                self.records.append(rec)
            if self.args.pause_ms:
                self.stop.wait(self.args.pause_ms / 1000)

    def run(self) -> tuple[dict, list[dict]]:
        started = time.monotonic()
        deadline = started + self.args.duration
        threads = [
            threading.Thread(target=self.worker, args=(started, deadline), daemon=True)
            for _ in range(self.args.concurrency)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            # A worker finishes its current request (bounded by --timeout) after the deadline.
            thread.join(timeout=self.args.duration + self.args.timeout + 5)
        elapsed = time.monotonic() - started
        with self.lock:
            records = sorted(self.records, key=lambda r: r["t"])
        return summarize(records, elapsed), records


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:18080", help="base URL (default %(default)s)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to run (max 3600)")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel clients (max 64)")
    parser.add_argument("--max-requests", type=int, default=0, help="stop after N requests (0: no cap)")
    parser.add_argument("--slow-ratio", type=float, default=0.2, help="share of slow requests (0..1)")
    parser.add_argument("--slow-ms", default="200-500", help="slow request length in ms, N or LOW-HIGH")
    parser.add_argument("--path", action="append", help="fast path(s) to mix in (default /)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout in seconds")
    parser.add_argument("--pause-ms", type=float, default=10.0, help="pause of each client between requests")
    parser.add_argument("--seed", type=int, default=None, help="random seed for a repeatable mix")
    parser.add_argument("--stop-file", help="stop early when this file exists")
    parser.add_argument("--summary", help="also write the JSON summary to this file")
    parser.add_argument("--records", help="write every request as a JSON line to this file")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a target that is not a loopback address (your own test hosts only)",
    )
    args = parser.parse_args(argv)
    args.path = args.path or ["/"]
    if not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--duration must be in (0, {MAX_DURATION:g}]")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be in [1, {MAX_CONCURRENCY}]")
    if not 0 <= args.slow_ratio <= 1:
        parser.error("--slow-ratio must be in [0, 1]")
    try:
        low, _, high = args.slow_ms.partition("-")
        if int(low) < 0 or int(high or low) < int(low):
            raise ValueError
    except ValueError:
        parser.error(f"--slow-ms must be N or LOW-HIGH with 0 <= LOW <= HIGH, got {args.slow_ms!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    gen = LoadGenerator(args)
    check_target(gen.host, args.allow_remote)

    def on_signal(signum, _frame):
        gen.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    summary, records = gen.run()
    text = json.dumps(summary, indent=2, sort_keys=True)
    if args.summary:
        Path(args.summary).write_text(text + "\n", encoding="utf-8")
    if args.records:
        with open(args.records, "w", encoding="utf-8") as handle:
            for rec in records:
                handle.write(json.dumps(rec, sort_keys=True) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
