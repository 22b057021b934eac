"""Load on `mathdistill serve`: bounded concurrent clients on 127.0.0.1, requests/s, latency, 5xx.

    python benchmarks/serve_load.py --serve smollm2-135m --clients 8 --requests 25 --out results/serve/load.json
    python benchmarks/serve_load.py --url http://127.0.0.1:8000 --clients 4 --requests 5

`--serve MODEL` starts `mathdistill serve MODEL` on a free loopback port (extra server flags with
`--serve-arg`, e.g. `--serve-arg=--backend=llamacpp`), waits for /healthz, runs, stops it.
`--url` uses a running server; only loopback addresses are accepted. Each client sends its
requests one after another (SVAMP questions, in turn) and retries a 503 after its Retry-After
(`--retries`, 3); the run stops by itself after `clients x requests` questions or `--max-seconds`,
whichever comes first. Prints and writes JSON: requests/s, p50/p95 latency of the answered
requests, status counts, the number of 5xx responses, and the server's own timing split (queued,
generation, batch size).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import httpx

FALLBACK_QUESTIONS = [
    "Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars on each pack. How much do you have to pay to buy each pack?",
    "There were some birds sitting on the fence. 4 more birds came to join them. If there are a total of 5 birds on the fence now. How many birds had been sitting on the fence at the start?",
    "Paco had 40 cookies. He ate 5 cookies and gave 13 of them to his friend. How many cookies did paco have left?",
    "Baker made some cakes. He sold 145 of them. If he still has 72 cakes left. How many cakes did baker make?",
]


def questions(n: int) -> tuple[list[str], str]:
    """The first n SVAMP questions (from the data root), else a few built in."""
    try:
        from mathdistill import datasets as ds

        return [p.question for p in ds.load("svamp:test")[:n]], "svamp:test"
    except Exception:  # noqa: BLE001 - no data root: the built-in questions are enough for load
        return FALLBACK_QUESTIONS, "built-in SVAMP questions"


def is_loopback_url(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return round(s[max(0, math.ceil(p * len(s)) - 1)], 4)


async def run_load(url: str, qs: list[str], clients: int, per_client: int, max_seconds: float,
                   timeout: float, headers: dict[str, str], retries: int = 0) -> dict:
    """`clients` concurrent clients, `per_client` questions each, one after another. A 503 is
    retried after its Retry-After (at most 60 s) up to `retries` times, as a polite client would."""
    records: list[dict] = []  # one per response
    requests: list[dict] = []  # one per question: the last response, and the time from the first try
    stop_at = time.monotonic() + max_seconds

    async def client(c: int, http: httpx.AsyncClient) -> None:
        for i in range(per_client):
            q = qs[(c * per_client + i) % len(qs)]
            first = time.monotonic()
            for attempt in range(retries + 1):
                if time.monotonic() >= stop_at:
                    return
                t0 = time.monotonic()
                rec: dict = {"client": c, "attempt": attempt}
                retry_after = None
                try:
                    r = await http.post(url + "/v1/solve", json={"question": q}, headers=headers)
                    rec["status"] = r.status_code
                    if r.status_code == 200:
                        j = r.json()
                        rec.update(timing=j["timing"], abstain=j["abstain"], vote=j["vote"])
                    elif r.status_code == 503:
                        retry_after = float(r.headers.get("Retry-After", "1"))
                except httpx.HTTPError as e:
                    rec["status"] = f"transport: {type(e).__name__}"
                rec["latency"] = time.monotonic() - t0
                records.append(rec)
                if retry_after is None or attempt == retries:
                    break
                await asyncio.sleep(max(0.0, min(retry_after, 60.0, stop_at - time.monotonic())))
            requests.append({"status": rec["status"], "end_to_end": time.monotonic() - first})

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
        t0 = time.monotonic()
        await asyncio.gather(*(client(c, http) for c in range(clients)))
        wall = time.monotonic() - t0
    ok = [r for r in records if r["status"] == 200]
    statuses: dict[str, int] = {}
    for r in records:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    lat = [r["latency"] for r in ok]
    e2e = [r["end_to_end"] for r in requests if r["status"] == 200]
    return {
        "requests": len(requests),
        "answered": len(ok),
        "failed": sum(1 for r in requests if r["status"] != 200),
        "responses": len(records),
        "status_counts": dict(sorted(statuses.items())),
        "errors_5xx": sum(1 for r in records if isinstance(r["status"], int) and r["status"] >= 500),
        "transport_errors": sum(1 for r in records if not isinstance(r["status"], int)),
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(ok) / wall, 4) if wall else None,
        "latency_s": {"p50": pct(lat, 0.5), "p95": pct(lat, 0.95), "max": pct(lat, 1.0),
                      "mean": round(sum(lat) / len(lat), 4) if lat else None},
        "end_to_end_s": {"p50": pct(e2e, 0.5), "p95": pct(e2e, 0.95)},  # from the first try, 503 waits included
        "server_timing_s": {
            "queued_p50": pct([r["timing"]["queued"] for r in ok], 0.5),
            "generation_p50": pct([r["timing"]["generation"] for r in ok], 0.5),
            "verification_p50": pct([r["timing"]["verification"] for r in ok], 0.5),
            "batch_mean": round(sum(r["timing"]["batch"] for r in ok) / len(ok), 3) if ok else None,
        },
        "abstained": sum(1 for r in ok if r["abstain"]),
        "stopped_by_time": len(requests) < clients * per_client,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen | None, seconds: float, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = Path(proc.log_path).read_text(errors="replace")[-2000:]  # type: ignore[attr-defined]
            sys.exit(f"serve_load: the server exited with {proc.returncode}:\n{tail}")
        try:
            if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    sys.exit(f"serve_load: {url}/healthz did not answer 200 within {seconds:g} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="a running server on this machine, e.g. http://127.0.0.1:8000")
    where.add_argument("--serve", metavar="MODEL", help="start `mathdistill serve MODEL` for the run")
    ap.add_argument("--serve-arg", action="append", default=[], help="extra flag for `mathdistill serve` (repeatable)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=25, help="requests per client")
    ap.add_argument("--max-seconds", type=float, default=1800.0, help="stop sending after this long")
    ap.add_argument("--timeout", type=float, default=600.0, help="client timeout per request")
    ap.add_argument("--retries", type=int, default=3, help="retries of a 503, after its Retry-After")
    ap.add_argument("--api-key-env", help="send 'Authorization: Bearer $NAME'")
    ap.add_argument("--out", type=Path, help="write the JSON here too")
    args = ap.parse_args()
    if not (1 <= args.clients <= 64 and 1 <= args.requests <= 1000):
        sys.exit("serve_load: --clients must be 1..64 and --requests 1..1000")
    headers = {}
    if args.api_key_env:
        headers["Authorization"] = f"Bearer {os.environ.get(args.api_key_env, '')}"

    proc = None
    if args.serve:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        exe = Path(sys.executable).with_name("mathdistill")
        cmd = [str(exe) if exe.exists() else "mathdistill", "serve", args.serve, "--host", "127.0.0.1",
               "--port", str(port), *args.serve_arg]
        server_log = tempfile.NamedTemporaryFile("w+", prefix="serve_load-", suffix=".log", delete=False)  # noqa: SIM115 - outlives this block
        proc = subprocess.Popen(cmd, stdout=server_log, stderr=subprocess.STDOUT)
        proc.log_path = server_log.name  # type: ignore[attr-defined]
    else:
        url = args.url.rstrip("/")
        if not is_loopback_url(url):
            sys.exit("serve_load: only servers on this machine's loopback addresses (127.0.0.0/8, ::1, localhost)")
    try:
        wait_healthy(url, proc, 900, headers)
        info = httpx.get(url + "/v1/info", headers=headers, timeout=10).json()
        qs, source = questions(max(args.clients * args.requests, 1))
        load0 = os.getloadavg()
        result = asyncio.run(run_load(url, qs, args.clients, args.requests, args.max_seconds, args.timeout, headers,
                                     args.retries))
        load1 = os.getloadavg()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            os.unlink(proc.log_path)  # type: ignore[attr-defined]
    out = {
        "benchmark": "serve_load",
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "server": {"model": info.get("model"), "backend": info.get("backend"), "max_new_tokens": info.get("max_new_tokens"),
                   "min_agree": info.get("min_agree"), "timeout_s": info.get("timeout_s")},
        "clients": args.clients, "requests_per_client": args.requests, "questions": source,
        **result,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "loadavg_1min_before": round(load0[0], 2), "loadavg_1min_after": round(load1[0], 2)},
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
