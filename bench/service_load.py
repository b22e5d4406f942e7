"""Load benchmark of the evaluation API: cached evaluations vs a bare FastAPI endpoint, in the same run.

Starts two servers on 127.0.0.1 as subprocesses, one at a time, under the same uvicorn settings:
  ours: `amr-grpo serve` (rules judge, auth on, access logs on, rate limit off), one request primes its cache;
  bare: a FastAPI app whose POST returns a fixed JSON of the same size (the floor any FastAPI service pays).
Then `--concurrency` clients (httpx.AsyncClient) POST the same evaluation for `--seconds` each and the script
prints p50/p99 latency, throughput, errors, and the throughput ratio ours/bare (target >= 0.5).
Traffic goes only to 127.0.0.1; every run is bounded by --seconds and stops by itself.
Run: .venv/bin/python bench/service_load.py --seconds 20 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

API_KEY = "bench-key"
CASE = {
    "patient_case": {
        "id": "bench-1",
        "patient": {"age": 30, "sex": "F", "allergies": [], "crcl_ml_min": 95},
        "diagnosis": "acute uncomplicated cystitis",
        "prescription": "Nitrofurantoin 100 mg PO BD x 5 days",
        "setting": "OPD",
    },
    "model_output": (
        "Step 1 - Clinical picture: uncomplicated lower UTI in a non-pregnant woman.\n"
        "Step 2 - Guideline regimen: nitrofurantoin 100 mg PO BD for 5 days.\n"
        "Step 3 - Patient factors: CrCl 95 mL/min, no allergies, no interacting drugs.\n"
        "Decision: Approve\n"
        "Reference: NCDC/ICMR National Treatment Guidelines for Antimicrobial Use 2025, UTI"
    ),
    "ground_truth": {"decision": "Approve"},
    "metrics": "all",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bare_app(body: bytes):
    """A FastAPI app with one POST route returning `body` as-is: no auth, no validation, no judge."""
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    app = FastAPI()

    @app.post("/v1/evaluate")
    async def evaluate(request: Request) -> Response:
        await request.body()
        return Response(body, media_type="application/json")

    return app


def serve_bare(port: int, body_file: str) -> None:
    import uvicorn

    uvicorn.run(
        bare_app(Path(body_file).read_bytes()),
        host="127.0.0.1",
        port=port,
        access_log=False,
        server_header=False,
        log_level="warning",
    )


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    errors: int = 0
    seconds: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


async def load(name: str, url: str, seconds: float, concurrency: int, headers: dict[str, str]) -> Result:
    result = Result(name)
    payload = json.dumps(CASE).encode()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0, headers=headers) as client:
        stop = time.perf_counter() + 1.0  # warm-up second: connections opened, not measured

        async def worker(record: bool) -> None:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                try:
                    r = await client.post(url, content=payload)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if record:
                    if ok:
                        result.latencies.append(time.perf_counter() - t0)
                    else:
                        result.errors += 1

        await asyncio.gather(*(worker(False) for _ in range(concurrency)))
        start = time.perf_counter()
        stop = start + seconds
        await asyncio.gather(*(worker(True) for _ in range(concurrency)))
        result.seconds = time.perf_counter() - start
    return result


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with code {proc.returncode} before it was ready")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} not ready after {timeout:g} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds per server")
    ap.add_argument("--concurrency", type=int, default=64, help="concurrent clients")
    ap.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--body-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.body_file)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="amr-grpo-bench-"))
    results: list[Result] = []
    auth = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}

    # --- ours: the real service, rules judge, cached evaluations --------------------------------------------
    port = _free_port()
    env = dict(
        os.environ,
        AMR_GRPO_API_KEYS=API_KEY,
        AMR_GRPO_RATE_LIMIT_PER_MINUTE="0",
        AMR_GRPO_CACHE_PATH=str(tmp / "cache.sqlite"),
    )
    exe = Path(sys.executable).with_name("amr-grpo")
    with open(tmp / "ours.log", "wb") as log:
        proc = subprocess.Popen(
            [str(exe), "serve", "--port", str(port), "--judge", "rules"], env=env, stdout=log, stderr=log
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base + "/healthz", proc)
            first = httpx.post(base + "/v1/evaluate", content=json.dumps(CASE), headers=auth, timeout=60)
            if first.status_code != 200:
                raise SystemExit(f"priming request failed: {first.status_code} {first.text[:300]}")
            verdict = first.content
            results.append(asyncio.run(load("ours", base + "/v1/evaluate", args.seconds, args.concurrency, auth)))
            check = httpx.post(base + "/v1/evaluate", content=json.dumps(CASE), headers=auth, timeout=60).json()
            if not check.get("cached"):
                raise SystemExit("the evaluation was not served from the cache; the benchmark would be meaningless")
        finally:
            stop(proc)

    # --- bare: fixed JSON of the same size ------------------------------------------------------------------
    (tmp / "body.json").write_bytes(verdict)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-bare", str(port), "--body-file", str(tmp / "body.json")]
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/docs", proc)
        results.append(asyncio.run(load("bare", base + "/v1/evaluate", args.seconds, args.concurrency, auth)))
    finally:
        stop(proc)

    ours, bare = results
    print(
        f"service load: {args.concurrency} concurrent clients, {args.seconds:g} s each, cached evaluations, "
        f"{os.cpu_count()} CPU cores shared by servers and load generator"
    )
    print(f"{'target':<6} {'requests':>9} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(
            f"{r.name:<6} {len(r.latencies):>9} {r.errors:>6} {r.throughput:>8.0f} {r.pct(0.5):>8.1f} "
            f"{r.pct(0.99):>8.1f}"
        )
    ratio = ours.throughput / bare.throughput if bare.throughput else float("nan")
    print(
        f"ratio ours/bare throughput: {ratio:.2f} (target >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'}); "
        f"p50 ours/bare {ours.pct(0.5) / bare.pct(0.5):.2f}x; errors {ours.errors + bare.errors}"
    )
    return 1 if ours.errors + bare.errors else 0


if __name__ == "__main__":
    sys.exit(main())
