"""Load benchmark of the evaluation API: cached evaluations vs a bare FastAPI endpoint, in the same run.

Starts two servers on 127.0.0.1 as subprocesses, under the same uvicorn settings:
  ours: `amr-grpo serve` with the openai judge on the fake provider (tests/fake_openai.py, its own process), auth on,
        access logs on, rate limit off; one request primes the SQLite verdict cache, the load then hits it;
  bare:  a FastAPI endpoint that returns a fixed JSON (the same verdict, as a dict FastAPI serialises): the
         issue's baseline, what the plainest FastAPI route costs;
  floor: the same answer as pre-encoded bytes after reading the body: no serialisation at all, the least any
         FastAPI route can cost (printed for context: ours/floor is the stricter ratio).
Then `--concurrency` keep-alive connections POST the same evaluation, the servers taking turns of `--round` seconds
until each had `--seconds` (turns, so other load on the machine hits both alike), and the script prints p50/p99
latency, throughput, errors, and the throughput ratios ours/bare (target >= 0.5) and ours/floor.
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
from fastapi import FastAPI, Request
from fastapi.responses import Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fake_openai import FakeOpenAIProcess  # noqa: E402 - the fake provider lives with the tests

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


def bare_app(body: bytes, floor: bool = False) -> FastAPI:
    """The baseline: POST /v1/evaluate returns the fixed verdict. floor=True: as pre-encoded bytes after reading
    the body; else as the dict, the way a plain FastAPI route answers. No auth, validation, judge or logging."""
    app = FastAPI()
    fixed = json.loads(body)

    if floor:

        @app.post("/v1/evaluate")
        async def evaluate_floor(request: Request) -> Response:
            await request.body()
            return Response(body, media_type="application/json")

    else:

        @app.post("/v1/evaluate")
        async def evaluate() -> dict:
            return fixed

    return app


def serve_bare(port: int, body_file: str, floor: bool) -> None:
    import uvicorn

    from amr_grpo.service.settings import Settings

    app = bare_app(Path(body_file).read_bytes(), floor)
    # the uvicorn settings `amr-grpo serve` runs with (limit_concurrency, keep-alive), so only the app differs
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", **Settings().uvicorn_options())


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


def raw_request(port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"host: 127.0.0.1:{port}", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, server wants the connection closed) of one HTTP/1.1 response with a content-length."""
    status = int((await reader.readline()).split()[1])
    length, close = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = b"close" in value.lower()
    await reader.readexactly(length)
    return status, close


async def load(name: str, port: int, path: str, seconds: float, concurrency: int, headers: dict[str, str]) -> Result:
    """`concurrency` keep-alive connections, each sending the next request when the last answer is in.

    A few lines of asyncio instead of httpx: httpx spends about 1 ms of CPU per request, which on a loopback
    benchmark makes the load generator the bottleneck and hides the difference between the two servers."""
    result = Result(name)
    request = raw_request(port, path, headers, json.dumps(CASE).encode())
    stop = time.perf_counter() + 0.3  # warm-up: connections opened and reused, not measured
    record = False

    async def connection() -> None:
        writer = None
        while time.perf_counter() < stop:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                t0 = time.perf_counter()
                writer.write(request)
                status, close = await asyncio.wait_for(read_response(reader), 30)
                if close:
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError):
                status, writer = 0, None
            if record:
                if status == 200:
                    result.latencies.append(time.perf_counter() - t0)
                else:
                    result.errors += 1
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    start = time.perf_counter()
    stop, record = start + seconds, True
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - start
    return result


def run_load(name: str, port: int, seconds: float, concurrency: int, headers: dict[str, str]) -> Result:
    try:
        import uvloop  # the event loop uvicorn uses too, when installed

        return uvloop.run(load(name, port, "/v1/evaluate", seconds, concurrency, headers))
    except ImportError:
        return asyncio.run(load(name, port, "/v1/evaluate", seconds, concurrency, headers))


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
    ap.add_argument("--round", type=float, default=2.0, help="seconds per turn; the servers take turns")
    ap.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--body-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.body_file, args.floor)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="amr-grpo-bench-"))
    auth = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
    env = dict(
        os.environ,
        AMR_GRPO_API_KEYS=API_KEY,
        AMR_GRPO_RATE_LIMIT_PER_MINUTE="0",
        AMR_GRPO_CACHE_PATH=str(tmp / "cache.sqlite"),
        AMR_GRPO_JUDGE_API_KEY="fake-provider-key",
        AMR_GRPO_JUDGE_OVERRIDES='["rpm=0", "tpm=0"]',
    )
    exe = Path(sys.executable).with_name("amr-grpo")
    procs: list[subprocess.Popen] = []
    with FakeOpenAIProcess() as fake, open(tmp / "ours.log", "wb") as log:
        try:
            # ours: the real service, openai judge on the fake provider; one request primes the verdict cache
            ours_port = _free_port()
            cmd = [str(exe), "serve", "--port", str(ours_port), "--judge", "openai", "--judge-base-url", fake.base_url]
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=log))
            base = f"http://127.0.0.1:{ours_port}"
            wait_ready(base + "/healthz", procs[-1])
            first = httpx.post(base + "/v1/evaluate", content=json.dumps(CASE), headers=auth, timeout=60)
            if first.status_code != 200:
                raise SystemExit(f"priming request failed: {first.status_code} {first.text[:300]}")
            # bare and floor: the same answer from routes that do nothing else
            (tmp / "body.json").write_bytes(first.content)
            ports = {"ours": ours_port}
            for name in ("bare", "floor"):
                ports[name] = _free_port()
                cmd = [
                    sys.executable,
                    __file__,
                    "--serve-bare",
                    str(ports[name]),
                    "--body-file",
                    str(tmp / "body.json"),
                ]
                procs.append(subprocess.Popen(cmd + (["--floor"] if name == "floor" else [])))
                wait_ready(f"http://127.0.0.1:{ports[name]}/docs", procs[-1])

            # turns of --round seconds each, so load from other processes on this machine hits both alike
            results = {name: Result(name) for name in ports}
            turns = max(1, round(args.seconds / args.round))
            for _ in range(turns):
                for name, total in results.items():
                    part = run_load(name, ports[name], args.seconds / turns, args.concurrency, auth)
                    total.latencies += part.latencies
                    total.errors += part.errors
                    total.seconds += part.seconds
            check = httpx.post(base + "/v1/evaluate", content=json.dumps(CASE), headers=auth, timeout=60).json()
            if not check.get("cached"):
                raise SystemExit("the evaluation was not served from the cache; the benchmark would be meaningless")
            provider_calls = fake.stats()["requests"]
        finally:
            for proc in procs:
                stop(proc)

    print(
        f"service load: {args.concurrency} concurrent clients, {args.seconds:g} s per server in {turns} turns, "
        f"cached evaluations, {os.cpu_count()} CPU cores shared by the servers and the load generator"
    )
    print(f"{'target':<6} {'requests':>9} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results.values():
        print(
            f"{r.name:<6} {len(r.latencies):>9} {r.errors:>6} {r.throughput:>8.0f} {r.pct(0.5):>8.1f} "
            f"{r.pct(0.99):>8.1f}"
        )
    ours, bare, floor = results["ours"], results["bare"], results["floor"]
    ratio = ours.throughput / bare.throughput if bare.throughput else float("nan")
    errors = sum(r.errors for r in results.values())
    print(
        f"ratio ours/bare throughput: {ratio:.2f} (target >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'}); "
        f"ours/floor {ours.throughput / floor.throughput if floor.throughput else float('nan'):.2f}; "
        f"p50 ours/bare {ours.pct(0.5) / bare.pct(0.5):.2f}x; errors {errors}; "
        f"provider calls {provider_calls} (1 = only the priming request reached the judge)"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
