"""Slow clients against the Edge Function: what N connections that never finish their body cost it, with the body
timeout (ours) and without one (the baseline: AMR_GRPO_BODY_TIMEOUT_S so large it never fires, as before issue 16).

Starts `deno run index.ts` (Deno.serve on 127.0.0.1) twice, one per setting. Each run opens `--waves` waves of
`--clients` connections that announce a 1,000,000-byte body, send `--sent` bytes of it, then nothing, and never close
(a slowloris client). After each wave it reads the server's RSS and open sockets (/proc/PID). With the timeout the
handler answers 408 and drops what it buffered, so later waves reuse that memory; without it every partial body stays
held. The sockets stay open in both: Deno.serve keeps a connection whose request body is unfinished, whatever the
answer says (`connection: close`); in production Supabase's gateway holds client connections, with its own timeouts.
Prints both runs and the ratio of RSS growth, baseline / ours. Needs Deno (`make tools`) and Linux (/proc).
Traffic goes only to 127.0.0.1; each run stops by itself.
Run: .venv/bin/python bench/edge_slow_clients.py --clients 100 --waves 3 --timeout 2
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNCTION_DIR = ROOT / "supabase" / "functions" / "evaluate-prescription"
ANNOUNCED = 1_000_000  # the Content-Length each slow client announces (under the 1 MiB body limit)


def head(sent: int) -> bytes:
    """Headers announcing ANNOUNCED bytes, then `sent` of them (the start of a JSON string that never ends)."""
    return (
        b"POST /evaluate-prescription HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % ANNOUNCED + (b'{"model_output": "' + b"x" * sent)[:sent]
    )


def deno_binary() -> str:
    local = ROOT / ".tools" / "node_modules" / ".bin" / "deno"
    found = os.environ.get("AMR_GRPO_DENO") or (str(local) if local.exists() else None)
    if not found:
        raise SystemExit("deno not found: run `make tools` (or set AMR_GRPO_DENO)")
    return found


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def open_sockets(pid: int) -> int:
    return sum(1 for fd in Path(f"/proc/{pid}/fd").iterdir() if os.readlink(fd).startswith("socket:"))


def run(timeout_s: float, clients: int, waves: int, sent: int, settle_s: float) -> list[tuple[str, float, int]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMR_GRPO_", "GROQ_"))}
    env.update(DENO_SERVE_ADDRESS="tcp:127.0.0.1:0", NO_COLOR="1", GROQ_API_KEY="unused")
    env["AMR_GRPO_BODY_TIMEOUT_S"] = str(timeout_s)
    proc = subprocess.Popen(
        [deno_binary(), "run", "--allow-net=127.0.0.1", "--allow-env", "index.ts"],
        cwd=FUNCTION_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    held: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        port = int(re.search(r"127\.0\.0\.1:(\d+)", proc.stdout.readline()).group(1))  # "Listening on ..."
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # drain the access log
        time.sleep(1)
        rows = [("start", rss_mb(proc.pid), open_sockets(proc.pid))]
        for wave in range(1, waves + 1):
            for _ in range(clients):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(head(sent))
                held.append(s)  # never closed by the client until the run ends
            time.sleep(settle_s)
            rows.append((f"wave {wave}", rss_mb(proc.pid), open_sockets(proc.pid)))
        return rows
    finally:
        for s in held:
            s.close()
        proc.terminate()
        proc.wait(timeout=20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=250, help="slow connections per wave")
    ap.add_argument("--waves", type=int, default=3, help="waves of slow connections")
    ap.add_argument("--sent", type=int, default=500_000, help="body bytes each client sends before it stalls")
    ap.add_argument("--timeout", type=float, default=2.0, help="ours: AMR_GRPO_BODY_TIMEOUT_S (default 30 in use)")
    args = ap.parse_args()
    if not sys.platform.startswith("linux"):
        raise SystemExit("this benchmark reads /proc: Linux only")
    settle = args.timeout + 2.0  # each wave is measured after ours has timed it out
    results = {
        "ours": run(args.timeout, args.clients, args.waves, args.sent, settle),
        "baseline": run(1e6, args.clients, args.waves, args.sent, settle),
    }
    print(f"Edge Function, {args.clients} slow clients per wave, each sending {args.sent:,} of {ANNOUNCED:,} body "
          f"bytes, then nothing, never closing (ours: body timeout {args.timeout:g} s; baseline: none); measured "
          f"{settle:g} s after each wave")
    print(f"{'run':9} {'point':7} {'RSS MB':>7} {'open sockets':>13}")
    for name, rows in results.items():
        for point, rss, sockets in rows:
            print(f"{name:9} {point:7} {rss:7.1f} {sockets:13d}")
    growth = {name: rows[-1][1] - rows[0][1] for name, rows in results.items()}
    print(f"RSS growth over {args.waves} waves: ours {growth['ours']:.1f} MB, baseline {growth['baseline']:.1f} MB; "
          f"ratio baseline/ours {growth['baseline'] / max(growth['ours'], 0.1):.2f}; open sockets at the end: "
          f"ours {results['ours'][-1][2]}, baseline {results['baseline'][-1][2]}")


if __name__ == "__main__":
    main()
