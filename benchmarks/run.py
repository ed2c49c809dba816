"""Benchmark the app against the floor (benchmarks/floor.py), side by side, in one run.

    python -m benchmarks.run [--duration 10] [--rounds 3] [--workers 2] [--quick]

Both are served by one gunicorn (same workers, same middleware, same PostgreSQL);
runs alternate floor/app so that machine noise hits both alike. Every number is
reported next to the floor's from the same run, as a ratio. Beside throughput under
load, the CPU each small dismissal costs (workers plus PostgreSQL, one connection) is
reported: it moves far less from run to run on a small, shared machine.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("BENCH_PORT", "8799"))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/imcallback_bench")
AUTH = "Basic " + base64.b64encode(b"openim:bench-password").decode()
COMMAND = "callbackAfterDisMissGroupCommand"
PATHS = {
    "floor": f"/floor/{COMMAND}",
    "app": f"/imcallback/{COMMAND}",
    # The same pipeline behind a plain Django view: what the DRF view costs.
    "plain": f"/plain/{COMMAND}",
}
#: Before-callbacks: a text message, answered allow (the floor) or by a trivial decider
#: with RECORD "failures" (one-to-one messages) and "all" (group messages).
MESSAGE_PATHS = {
    "floor": "/floor-message/callbackBeforeSendSingleMsgCommand",
    "app": "/imcallback/callbackBeforeSendSingleMsgCommand",
    "all": "/imcallback/callbackBeforeSendGroupMsgCommand",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- database --------------------------------------------------------------------------


def reset_database() -> None:
    """Drop and recreate the benchmark database, migrate, create the floor's tables."""
    import psycopg

    name = DB_URL.rsplit("/", 1)[1]
    admin_url = DB_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.settings"}
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v0"],
        check=True,
        env=env,
        cwd=ROOT,
    )
    from benchmarks.floor import DDL

    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute(DDL)


def sql(query: str, *params: object) -> list[tuple]:
    import psycopg

    with psycopg.connect(DB_URL) as conn:
        return conn.execute(query, params).fetchall()


# -- server ----------------------------------------------------------------------------


class Server:
    def __init__(self, workers: int, receiver: bool = False) -> None:
        self.workers = workers
        self.receiver = receiver
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.settings"}
        if self.receiver:
            env["BENCH_RECEIVER"] = "1"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "benchmarks.wsgi",
                "--workers",
                str(self.workers),
                "--bind",
                f"127.0.0.1:{PORT}",
                "--timeout",
                "300",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
        )
        try:
            self._warm_up()
        except BaseException:
            self.__exit__()  # no gunicorn left behind holding the port
            raise
        return self

    def _warm_up(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                post(PATHS["floor"], b'{"groupID":"warmup-probe","membersID":[]}')
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        # Warm every worker (imports, connections) on both paths.
        for i in range(20 * self.workers):
            for name, path in PATHS.items():
                post(path, dismissal(f"warmup-{name}-{i}", 5))

    def worker_pids(self) -> list[int]:
        assert self.process
        out = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
        ).stdout
        return [int(pid) for pid in out.split()]

    def peak_rss_mb(self) -> float:
        peaks = []
        for pid in self.worker_pids():
            status = Path(f"/proc/{pid}/status").read_text()
            peaks.append(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024)
        return max(peaks)

    def __exit__(self, *exc: object) -> None:
        assert self.process
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def dismissal(group_id: str, members: int) -> bytes:
    body = {
        "callbackCommand": COMMAND,
        "groupID": group_id,
        "ownerID": f"owner-{group_id}",
        "groupType": "\u0002",
        "membersID": [f"user-{group_id}-{i:07d}" for i in range(members)],
        "eventTime": 1_700_000_000_000,
    }
    return (json.dumps(body, separators=(",", ":")) + "\n").encode()


def post(path: str, body: bytes) -> tuple[float, int]:
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=300)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Operationid": "bench",
        "Authorization": AUTH,
        "User-Agent": "Go-http-client/1.1",
    }
    start = time.perf_counter()
    connection.request("POST", path, body, headers)
    response = connection.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}")
    return elapsed, response.status


# -- benchmarks ------------------------------------------------------------------------


def wrk(
    path: str,
    prefix: str,
    duration: int,
    connections: int,
    repeat: bool = False,
    mix: bool = False,
    message: bool = False,
    base: str = "",
    join: bool = False,
    after: bool = False,
) -> dict[str, float]:
    env = {
        **os.environ,
        "BENCH_PATH": path,
        "BENCH_BASE": base or "/imcallback/",
        "BENCH_PREFIX": prefix,
        "BENCH_AUTH": AUTH,
        "BENCH_REPEAT": "1" if repeat else "",
        "BENCH_MIX": "1" if mix else "",
        "BENCH_MESSAGE": "1" if message else "",
        "BENCH_JOIN": "1" if join else "",
        "BENCH_AFTER": "1" if after else "",
    }
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{duration}s",
            # The VM's disk stalls now and then for over wrk's default 2 s: a slow answer
            # is measured (in p99), not counted as a failed request.
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(ROOT / "benchmarks" / "post.lua"),
            f"http://127.0.0.1:{PORT}",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"BENCH non2xx=(\d+) errors=(\d+)", out)
    if int(bad.group(1)) or int(bad.group(2)):
        raise RuntimeError(f"{path or base}: {bad.group(0)}\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "rps": rps,
        "p50_ms": _percentile(out, "50%"),
        "p99_ms": _percentile(out, "99%"),
        "requests": requests,
    }


def _percentile(out: str, which: str) -> float:
    found = re.search(rf"{which}\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
    return float(found.group(1)) * scale


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes ``pids`` have used so far (gone ones count 0)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def bench_cpu(server: Server, duration: int, rounds: int) -> dict[str, float]:
    """CPU per small dismissal, gunicorn workers plus PostgreSQL, one request at a time.

    With one connection nothing waits for a core, so this measures work done rather than
    how the scheduler shared two busy cores: far steadier than throughput on a small VM.
    """
    results: dict[str, list[float]] = {"floor": [], "app": []}
    for round_ in range(rounds):
        for name in ("floor", "app") if round_ % 2 == 0 else ("app", "floor"):
            pids = server.worker_pids() + postgres_pids()
            before = cpu_seconds(pids)
            result = wrk(PATHS[name], f"{name}-cpu{round_}", duration, connections=1)
            per_request = (cpu_seconds(pids) - before) / result["requests"] * 1e6
            log(f"  cpu round {round_ + 1} {name}: {per_request:.0f} us per request")
            results[name].append(per_request)
    return {name: statistics.median(values) for name, values in results.items()}


#: Where each side of a comparison posts: (BENCH_PATH, BENCH_BASE).
FLOORS = {
    "floor": (PATHS["floor"], ""),
    "bare": (f"/bare{PATHS['floor']}", ""),
    "app": (PATHS["app"], ""),
    "plain": (PATHS["plain"], ""),
    # The group callbacks' same work (benchmarks/floor.py), with and without middleware.
    "group floor": ("", "/floor-group/"),
    "group bare": ("", "/bare/floor-group/"),
    "message floor": (MESSAGE_PATHS["floor"], ""),
    "message bare": (f"/bare{MESSAGE_PATHS['floor']}", ""),
    "message app": (MESSAGE_PATHS["app"], ""),
    "message all": (MESSAGE_PATHS["all"], ""),
    "after message": ("/imcallback/callbackAfterSendSingleMsgCommand", ""),
}


class Runs(dict[str, list[dict[str, float]]]):
    """Each side's wrk results, round by round."""

    def median(self, name: str, key: str = "rps") -> float:
        return statistics.median(r[key] for r in self[name])

    def ratio(self, name: str, base: str) -> float:
        return paired_ratio([r["rps"] for r in self[name]], [r["rps"] for r in self[base]])


def bench_small(
    duration: int,
    rounds: int,
    names: tuple[str, ...],
    tag: str,
    connections: int = 4,
    **mode: bool,
) -> Runs:
    """wrk at ``connections``, each side of ``names`` (``FLOORS``) in turn, round by round;
    ``mode``: ``repeat`` (each group twice: members, then none), ``mix`` (a busy server's
    group callbacks), ``join`` (direct joins), ``message`` and ``after`` (messages)."""
    runs = Runs({name: [] for name in names})
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else tuple(reversed(names)):
            path, base = FLOORS[name]
            prefix = f"{name.replace(' ', '-')}-{tag}{round_}"
            result = wrk(path, prefix, duration, connections, base=base, **mode)
            log(
                f"  {tag} round {round_ + 1} {name}: {result['rps']:.0f} req/s, "
                f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
            )
            runs[name].append(result)
    return runs


def paired_ratio(values: list[float], baselines: list[float]) -> float:
    """The median of the per-round ratios. Each round measures both back to back, so a
    ratio compares like with like while the machine's speed drifts from round to round
    (seen here: the floor alone from 300 to 692 req/s within one run)."""
    return statistics.median(value / base for value, base in zip(values, baselines, strict=True))


def bench_large(members: int, rounds: int, tag: str) -> dict[str, float]:
    times: dict[str, list[float]] = {"floor": [], "app": []}
    for round_ in range(rounds):
        for name in ("floor", "app") if round_ % 2 == 0 else ("app", "floor"):
            body = dismissal(f"{tag}-{name}-{round_}", members)
            elapsed, _ = post(PATHS[name], body)
            log(f"  {members} members round {round_ + 1} {name}: {elapsed * 1000:.0f} ms")
            times[name].append(elapsed)
    summary = {name: statistics.median(values) for name, values in times.items()}
    summary["ratio"] = paired_ratio(times["app"], times["floor"])
    return summary


def bench_million(workers: int) -> dict[str, float]:
    group_id = "million-app"
    body = dismissal(group_id, 1_000_000)
    with Server(workers) as server:
        before = server.peak_rss_mb()
        elapsed, _ = post(PATHS["app"], body)
        peak = server.peak_rss_mb()
    [(stored, count)] = sql(
        "SELECT count(m.id), max(d.member_count) FROM django_imcallback_dismissedgroup d "
        "JOIN django_imcallback_dismissedgroupmember m ON m.dismissal_id = d.id "
        "WHERE d.group_id = %s",
        group_id,
    )
    return {
        "seconds": elapsed,
        "peak_mb": peak,
        "idle_mb": before,
        "stored": stored,
        "member_count": count,
        "body_mb": len(body) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="short runs, no 1M test")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds = 3, 1

    sys.path.insert(0, str(ROOT))
    log("Resetting the benchmark database...")
    reset_database()
    d, r = args.duration, args.rounds
    with Server(args.workers) as server:
        log("Small dismissals (5 members), 4 connections; the app also behind a plain view:")
        small = bench_small(d, r, ("floor", "app", "bare", "plain"), "small")
        log("Small dismissals sent twice (members, then none), 4 connections:")
        twice = bench_small(d, r, ("floor", "app", "bare"), "twice", repeat=True)
        log("Group callbacks (creates, joins, quits, kicks, dismissals), 4 connections:")
        mixed = bench_small(d, r, ("group floor", "app", "group bare"), "mixed", mix=True)
        log("Before-callbacks: text messages, a trivial decider, RECORD failures / all:")
        messages = bench_small(
            d,
            r,
            ("message floor", "message app", "message all", "message bare"),
            "msg",
            message=True,
        )
        log("Latency at concurrency 2 (OpenIM's two sender workers), against the bare floors:")
        latency = {
            "a small dismissal": bench_small(d, r, ("bare", "app"), "lat-dismiss", 2),
            "a direct join": bench_small(d, r, ("group bare", "app"), "lat-join", 2, join=True),
            "a message after-callback": bench_small(
                d,
                r,
                ("message bare", "after message"),
                "lat-after",
                2,
                message=True,
                after=True,
            ),
            "a before-callback with a decider": bench_small(
                d, r, ("message bare", "message app"), "lat-before", 2, message=True
            ),
        }
        log("CPU per small dismissal, 1 connection:")
        cpu = bench_cpu(server, args.duration, max(2, args.rounds // 2))
        log("100,000-member dismissals:")
        large = bench_large(100_000, max(args.rounds, 3), "100k")
    with Server(args.workers, receiver=True):
        log("Small dismissals with a group_dismissed receiver connected, 4 connections:")
        received = bench_small(d, r, ("floor", "app", "bare"), "receiver")
    million = None if args.quick else bench_million(args.workers)

    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    pg_version = sql("SHOW server_version")[0][0]
    print(
        f"\nMachine: {os.cpu_count()} cores ({cpu_model}), Python {platform.python_version()}, "
        f"PostgreSQL {pg_version}, gunicorn {args.workers} sync workers.\n"
    )
    print("Throughput and time: medians over the rounds; app / floor: the median of the")
    print("per-round ratios (each round runs both back to back). A floor with middleware")
    print("runs Django's default middleware, as the app does; a bare floor runs none.\n")
    print("| benchmark | floor | app | app / floor | target |")
    print("|---|---|---|---|---|")

    def row(label: str, runs: Runs, name: str, base: str, target: str) -> None:
        print(
            f"| {label} | {runs.median(base):.0f} | {runs.median(name):.0f} "
            f"| {runs.ratio(name, base):.2f} | {target} |"
        )

    row("small dismissals (req/s, 4 connections)", small, "app", "floor", "reported")
    row("small dismissals, bare floor (req/s)", small, "app", "bare", ">= 0.75")
    row(
        "the same behind a plain Django view (req/s; the DRF view costs the difference)",
        small,
        "plain",
        "floor",
        "reported",
    )
    row(
        "small dismissals with a group_dismissed receiver (req/s)",
        received,
        "app",
        "floor",
        "reported",
    )
    row("the same, bare floor (req/s)", received, "app", "bare", "reported")
    row(
        "each dismissal twice, members then none, as OpenIM sends (req/s)",
        twice,
        "app",
        "floor",
        "reported",
    )
    row("each dismissal twice, bare floor (req/s)", twice, "app", "bare", ">= 0.7")
    row(
        "group callbacks, a busy server's mix (req/s; the same-work floor)",
        mixed,
        "app",
        "group floor",
        "reported",
    )
    row("the same mix, bare same-work floor (req/s)", mixed, "app", "group bare", ">= 0.6")
    for name, label, target in (
        ("message app", 'RECORD "failures"', "reported"),
        ("message all", 'RECORD "all"', "reported"),
    ):
        row(
            f"before-callback messages, one trivial decider, {label} (req/s; floor: parse "
            "and allow)",
            messages,
            name,
            "message floor",
            target,
        )
    row(
        'the same, RECORD "failures", bare floor (req/s)',
        messages,
        "message app",
        "message bare",
        ">= 0.75",
    )
    print(
        f"| small dismissals, CPU per request (µs, workers + PostgreSQL, 1 connection) "
        f"| {cpu['floor']:.0f} | {cpu['app']:.0f} | {cpu['app'] / cpu['floor']:.2f} | reported |"
    )
    ratio = large["ratio"]
    print(
        f"| 100,000 members, time (ms, median) | {large['floor'] * 1000:.0f} "
        f"| {large['app'] * 1000:.0f} | {ratio:.2f} | <= 1.3 |"
    )
    if million:
        print(
            f"| 1,000,000 members ({million['body_mb']:.0f} MB body), time (s) | - | "
            f"{million['seconds']:.1f} | - | stored: {million['stored']:,} rows |"
        )
        print(
            f"| 1,000,000 members, worker peak RSS (MB) | - | {million['peak_mb']:.0f} "
            f"(idle {million['idle_mb']:.0f}) | - | < 400 |"
        )
    print("\nLatency at concurrency 2 (ms, medians over the rounds; bare floors):\n")
    print("| delivery | floor p50 | app p50 | floor p99 | app p99 |")
    print("|---|---|---|---|---|")
    for label, runs in latency.items():
        base, name = list(runs)
        print(
            f"| {label} | {runs.median(base, 'p50_ms'):.1f} | {runs.median(name, 'p50_ms'):.1f} "
            f"| {runs.median(base, 'p99_ms'):.1f} | {runs.median(name, 'p99_ms'):.1f} |"
        )


if __name__ == "__main__":
    main()
