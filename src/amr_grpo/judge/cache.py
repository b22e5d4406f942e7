"""A persistent verdict cache in SQLite, shared by runs and processes.

Keyed by sha256 of (backend, model, prompt id, rubric version, case, output, ground truth, metrics): changing any of
them, or editing the prompt file, misses. WAL journal and a busy timeout make concurrent writers (several
processes, e.g. one per GPU rank) safe. A file that is not a readable SQLite database is moved aside
(`<name>.corrupt-<time>`) with a warning and a fresh cache starts; an error later in the run turns the cache off
for the rest of it with a warning. Never a crash.
All SQLite work runs on one private thread, so the event loop never blocks on the disk.
Try it: python -c "from amr_grpo.judge.cache import VerdictCache as C; c = C('/tmp/v.sqlite'); c.put_sync('k', {'a': 1}); print(c.get_sync('k'))"
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from amr_grpo.judge.base import EvalRequest

log = logging.getLogger("amr_grpo.judge")
MEMORY_ITEMS = 4096  # verdicts kept in memory in front of SQLite (a few MB at most)
_SCHEMA = "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, verdict TEXT NOT NULL, created REAL NOT NULL)"


def cache_key(backend: str, model: str, tag: str, rubric: str, req: EvalRequest) -> str:
    payload = [backend, model, tag, rubric, req.patient_case, req.model_output, req.ground_truth, sorted(req.metrics)]
    if req.checklist is not None:  # a checklist the caller gives is part of what was judged
        payload.append(req.checklist)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


class VerdictCache:
    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0):
        self.path = Path(path).expanduser()
        self.busy_timeout_s = busy_timeout_s
        self.enabled = True
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verdict-cache")
        self._conn: sqlite3.Connection | None = None
        self._memory: dict[str, dict[str, Any]] = {}  # recent verdicts, read and written on the event loop only
        self._pool.submit(self._open).result()

    # -- on the cache thread ----------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            conn.execute("SELECT key FROM verdicts LIMIT 1").fetchall()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._connect()
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                self._disable(f"the cache {self.path} is locked ({e}); running without it")
                return
            self._move_aside(e)
        except sqlite3.DatabaseError as e:
            self._move_aside(e)

    def _move_aside(self, error: Exception) -> None:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                src.replace(Path(str(aside) + suffix))
        log.warning(
            "judge cache %s is not a readable SQLite database (%s); moved it to %s and started a new one",
            self.path,
            error,
            aside,
        )
        try:
            self._conn = self._connect()
        except sqlite3.DatabaseError as e:
            self._disable(f"could not create a new cache at {self.path} ({e}); running without it")

    def _disable(self, message: str) -> None:
        if self.enabled:
            log.warning("judge cache: %s", message)
        self.enabled = False

    def get_sync(self, key: str) -> dict[str, Any] | None:
        if not self.enabled or self._conn is None:
            return None
        try:
            row = self._conn.execute("SELECT verdict FROM verdicts WHERE key = ?", (key,)).fetchone()
            return json.loads(row[0]) if row else None
        except (sqlite3.DatabaseError, json.JSONDecodeError) as e:
            self._disable(f"read failed ({e}); running without the cache")
            return None

    def put_sync(self, key: str, verdict: dict[str, Any]) -> None:
        if not self.enabled or self._conn is None:
            return
        try:
            self._conn.execute(
                "INSERT OR REPLACE INTO verdicts (key, verdict, created) VALUES (?, ?, ?)",
                (key, json.dumps(verdict), time.time()),
            )
        except sqlite3.DatabaseError as e:
            self._disable(f"write failed ({e}); running without the cache")

    def count_sync(self) -> int:
        if self._conn is None:
            return 0
        return int(self._conn.execute("SELECT count(*) FROM verdicts").fetchone()[0])

    # -- from anywhere ----------------------------------------------------------------------------------------
    def _run(self, fn: Any, *args: Any) -> Any:
        return self._pool.submit(fn, *args).result()

    def get(self, key: str) -> dict[str, Any] | None:
        return self._run(self.get_sync, key)

    def put(self, key: str, verdict: dict[str, Any]) -> None:
        self._run(self.put_sync, key, verdict)

    def __len__(self) -> int:
        return self._run(self.count_sync)

    async def aget(self, key: str) -> dict[str, Any] | None:
        """A verdict seen recently by this process comes from memory: no thread hop (the service's hot path)."""
        hit = self._memory.get(key)
        if hit is None:
            hit = await asyncio.wrap_future(self._pool.submit(self.get_sync, key))
            if hit is not None:
                self._keep(key, hit)
        return hit

    async def aput(self, key: str, verdict: dict[str, Any]) -> None:
        self._keep(key, verdict)
        await asyncio.wrap_future(self._pool.submit(self.put_sync, key, verdict))

    def _keep(self, key: str, verdict: dict[str, Any]) -> None:
        self._memory[key] = verdict
        while len(self._memory) > MEMORY_ITEMS:  # oldest first
            self._memory.pop(next(iter(self._memory)), None)

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            self._pool.submit(conn.close).result()
        self._pool.shutdown(wait=True)
