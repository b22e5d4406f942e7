"""A persistent verdict cache in SQLite, shared by runs and processes.

Keyed by sha256 of (backend, model, prompt id, rubric version, case, output, ground truth, metrics): changing any of
them, or editing the prompt file, misses. WAL journal and a busy timeout make concurrent writers (several
processes, e.g. one per GPU rank) safe. It holds case text, so a new cache file is created 0600 in a 0700 folder.
What goes wrong is said in one log line, and the run goes on; it never crashes and never throws a good cache away:
- a file or folder this process may not write: the cache is opened read-only (hits are served, nothing is stored);
  a folder where no cache can be made: the run goes on without one;
- a file SQLite reports as not a database (SQLITE_NOTADB) is moved aside (`<name>.corrupt-<time>`), a fresh one starts;
- a damaged file (SQLITE_CORRUPT: a truncated or overwritten file, found by `PRAGMA quick_check` on open or by the
  first query that meets it): its readable rows (judge/cache_recover.py) go into a fresh file, the damaged one is
  moved aside;
- locked or busy beyond the timeout, or any other error in the run: the cache is off for the rest of the run.
All SQLite work runs on one private thread, so the event loop never blocks on the disk.
Try it: python -c "from amr_grpo.judge.cache import VerdictCache as C; c = C('/tmp/v.sqlite'); c.put_sync('k', {'a': 1}); print(c.get_sync('k'))"
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from amr_grpo.judge.base import EvalRequest
from amr_grpo.judge.cache_recover import readable_rows

log = logging.getLogger("amr_grpo.judge")
MEMORY_ITEMS = 4096  # verdicts kept in memory in front of SQLite (a few MB at most)
_SCHEMA = "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, verdict TEXT NOT NULL, created REAL NOT NULL)"


def cache_key(backend: str, model: str, tag: str, rubric: str, req: EvalRequest) -> str:
    payload = [backend, model, tag, rubric, req.patient_case, req.model_output, req.ground_truth, sorted(req.metrics)]
    if req.checklist is not None:  # a checklist the caller gives is part of what was judged
        payload.append(req.checklist)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


def _code(e: sqlite3.Error) -> str:
    """SQLite's error name (Python 3.11+), e.g. SQLITE_CORRUPT, SQLITE_READONLY_DIRECTORY; '' when not given."""
    return getattr(e, "sqlite_errorname", "") or ""


def _damaged(e: sqlite3.Error) -> bool:
    return _code(e).startswith("SQLITE_CORRUPT") or "malformed" in str(e)


def _not_a_database(e: sqlite3.Error) -> bool:
    return _code(e).startswith("SQLITE_NOTADB") or "not a database" in str(e)


def _no_write(e: sqlite3.Error) -> bool:
    return _code(e).startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")) or any(
        w in str(e) for w in ("readonly", "read-only", "unable to open")
    )


class VerdictCache:
    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0):
        self.path = Path(path).expanduser()
        self.busy_timeout_s = busy_timeout_s
        self.enabled = True
        self.read_only = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verdict-cache")
        self._conn: sqlite3.Connection | None = None
        self._memory: dict[str, dict[str, Any]] = {}  # recent verdicts, read and written on the event loop only
        self._pool.submit(self._open).result()

    # -- opening, on the cache thread ---------------------------------------------------------------------------
    def _connect(self, read_only: bool = False, immutable: bool = False) -> sqlite3.Connection:
        if read_only:
            uri = f"{self.path.resolve().as_uri()}?mode=ro{'&immutable=1' if immutable else ''}"
            conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout_s, isolation_level=None)
        else:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            if not read_only:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(_SCHEMA)
            conn.execute("SELECT key FROM verdicts LIMIT 1").fetchall()
            problems = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError(f"database disk image is malformed ({problems[0]})")
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def _create(self) -> bool:
        """A new, empty cache file (0600) in a folder made 0700; False (said) when it cannot be made."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            return True
        except OSError as e:
            self._disable(f"cannot create {self.path} ({e.strerror or e}); running without a verdict cache")
            return False

    def _open(self) -> None:
        if not self.path.exists() and not self._create():
            return
        if not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK | os.X_OK)):
            # SQLite would open such a file read-only without a word, then fail at the first write
            self._open_read_only("not writable by this user")
            return
        try:
            self._conn = self._connect()
        except sqlite3.Error as e:
            self._recover_from(e, opening=True)

    def _recover_from(self, e: sqlite3.Error, opening: bool) -> None:
        """What an error from SQLite means for the cache (see the module doc); says it in one line."""
        if _no_write(e):
            self._open_read_only(e)
        elif _not_a_database(e) or _damaged(e):
            self._replace(e)
        elif "locked" in str(e) or "busy" in str(e):
            self._disable(f"{self.path} is locked ({e}); running without the verdict cache")
        else:
            what = "cannot open" if opening else "error in"
            self._disable(f"{what} {self.path} ({e}); running without the verdict cache")

    def _open_read_only(self, why: object) -> None:
        for immutable in (False, True):  # WAL needs a -shm file: in a read-only folder only `immutable` opens it
            try:
                self._conn = self._connect(read_only=True, immutable=immutable)
            except sqlite3.Error as e:
                if _damaged(e) or _not_a_database(e):
                    self._disable(f"{self.path} is damaged ({e}) and read-only; running without the verdict cache")
                    return
                continue
            self.read_only = True
            log.warning("judge cache %s is read-only (%s): using its verdicts, storing no new ones", self.path, why)
            return
        self._disable(f"{self.path} cannot be opened, even read-only ({why}); running without the verdict cache")

    def _replace(self, error: sqlite3.Error) -> None:
        """Move a damaged or foreign file aside; start a fresh cache with every row that could still be read."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        fresh = self.path.with_name(self.path.name + ".recovering")
        try:
            for suffix in ("", "-wal", "-shm"):
                Path(str(fresh) + suffix).unlink(missing_ok=True)
            rows = [] if _not_a_database(error) else readable_rows(self.path)
            os.close(os.open(fresh, os.O_CREAT | os.O_WRONLY, 0o600))
            with sqlite3.connect(fresh) as new:  # one transaction: a commit per row would take minutes
                new.execute(_SCHEMA)
                new.executemany("INSERT OR REPLACE INTO verdicts (key, verdict, created) VALUES (?, ?, ?)", rows)
            new.close()
            for suffix in ("", "-wal", "-shm"):
                src = Path(str(self.path) + suffix)
                if src.exists():
                    src.replace(Path(str(aside) + suffix))
            fresh.replace(self.path)
            self._conn = self._connect()
        except (OSError, sqlite3.Error) as e:
            self._disable(f"{self.path} is damaged ({error}) and could not be replaced ({e}); running without it")
            return
        if _not_a_database(error):
            log.warning("judge cache %s is not an SQLite database (%s): moved it to %s; a fresh cache started",
                        self.path, error, aside.name)
        else:
            log.warning("judge cache %s is damaged (%s): %d readable verdicts kept in a fresh cache; the damaged file "
                        "is now %s", self.path, error, len(rows), aside.name)

    def _disable(self, message: str) -> None:
        if self.enabled:
            log.warning("judge cache: %s", message)
        self.enabled = False

    # -- reads and writes, on the cache thread -------------------------------------------------------------
    def _failed(self, e: sqlite3.Error, what: str) -> None:
        """An error in the run: a damaged file is repaired (then used again); a file that turned read-only is
        still read; anything else turns the cache off."""
        if (_damaged(e) or _not_a_database(e)) and not self.read_only:
            log.warning("judge cache %s: %s failed (%s); repairing it", self.path, what, e)
            self._replace(e)
        elif _no_write(e) and what == "a write":
            self.read_only = True
            log.warning("judge cache %s is read-only (%s): using its verdicts, storing no new ones", self.path, e)
        else:
            self._disable(f"{what} failed ({e}); running without the verdict cache")

    def get_sync(self, key: str) -> dict[str, Any] | None:
        if not self.enabled or self._conn is None:
            return None
        try:
            row = self._conn.execute("SELECT verdict FROM verdicts WHERE key = ?", (key,)).fetchone()
            return json.loads(row[0]) if row else None
        except json.JSONDecodeError as e:
            self._disable(f"a stored verdict is not JSON ({e}); running without the verdict cache")
        except sqlite3.Error as e:
            self._failed(e, "a read")
        return None

    def put_sync(self, key: str, verdict: dict[str, Any]) -> None:
        if not self.enabled or self._conn is None or self.read_only:
            return
        sql = "INSERT OR REPLACE INTO verdicts (key, verdict, created) VALUES (?, ?, ?)"
        try:
            self._conn.execute(sql, (key, json.dumps(verdict), time.time()))
        except sqlite3.Error as e:
            self._failed(e, "a write")

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
