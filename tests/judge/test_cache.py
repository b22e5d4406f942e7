"""The verdict cache against real faults on real files: read-only files and folders (mode bits that bind even root,
see tests/unprivileged.py), a file cut short, a file that is not a database, and the modes a new cache gets.
Run: .venv/bin/pytest tests/judge/test_cache.py
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import stat
import sys
from pathlib import Path

import pytest
import unprivileged

from amr_grpo.judge.cache import VerdictCache
from amr_grpo.judge.cache_recover import readable_rows

needs_binding_modes = pytest.mark.skipif(bool(unprivileged.skip_reason()), reason=str(unprivileged.skip_reason()))


def key(i: int) -> str:
    return hashlib.sha256(f"request {i}".encode()).hexdigest()  # what cache_key() makes: 64 hex digits


def verdict(i: int, size: int = 700) -> dict:
    return {"scores": {"clinical_accuracy": {"score": 1 + i % 5, "justification": "j" * size}}, "n": i}


def filled(path: Path, n: int, big_every: int = 0) -> Path:
    """A cache of n verdicts (every `big_every`-th one larger than a page: overflow pages), closed. VerdictCache
    makes the file; the rows go in as one transaction (put() commits each: minutes for a test on a busy box)."""
    VerdictCache(path).close()
    rows = [(key(i), json.dumps(verdict(i, 9000 if big_every and i % big_every == 0 else 700)), float(i))
            for i in range(n)]
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO verdicts (key, verdict, created) VALUES (?, ?, ?)", rows)
    db.close()
    return path


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_a_new_cache_and_its_folder_are_private(tmp_path, caplog):
    path = tmp_path / "new" / "judge.sqlite"
    with caplog.at_level(logging.WARNING, logger="amr_grpo.judge"):
        c = VerdictCache(path)
        c.put(key(1), verdict(1))
        wal = [p for p in path.parent.iterdir() if p.name.endswith(("-wal", "-shm"))]
        modes = {p.name: mode(p) for p in [path, *wal]}
        c.close()
    # it holds case text: owner only (it was 0644, world-readable); SQLite gives -wal/-shm the file's mode
    assert mode(path.parent) == 0o700 and set(modes.values()) == {0o600}, modes
    assert caplog.records == []  # nothing existed, nothing was moved: nothing to say


CHILD = """
import json, logging, sys
logging.basicConfig(level=logging.WARNING, format="%(message)s")
from amr_grpo.judge.cache import VerdictCache
c = VerdictCache(sys.argv[1])
hits = sum(c.get(k) is not None for k in json.loads(sys.argv[2]))
c.put("f" * 64, {"scores": {}})
print(json.dumps({"hits": hits, "stored": c.get("f" * 64) is not None, "read_only": c.read_only, "on": c.enabled}))
c.close()
"""


def child(path: Path, keys: list[str]) -> tuple[dict, list[str]]:
    """Open the cache in a process the mode bits bind; (what it saw, its stderr lines)."""
    r = unprivileged.run([sys.executable, "-c", CHILD, str(path), json.dumps(keys)], timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), r.stderr.strip().splitlines()


@needs_binding_modes
@pytest.mark.parametrize("where", ["file", "folder"])
def test_a_read_only_cache_serves_its_verdicts_and_is_never_moved(tmp_path, where):
    path = filled(tmp_path / "ro" / "judge.sqlite", 300)
    before = sorted(p.name for p in path.parent.iterdir())
    (path if where == "file" else path.parent).chmod(0o444 if where == "file" else 0o555)
    try:
        seen, err = child(path, [key(i) for i in range(300)])
    finally:
        path.parent.chmod(0o700)
        path.chmod(0o600)
    # it was renamed .corrupt-* and all 300 calls paid again; now: 300 hits, nothing stored, one line said
    assert seen == {"hits": 300, "stored": False, "read_only": True, "on": True}
    assert len(err) == 1 and "read-only" in err[0] and "Traceback" not in err[0]
    assert not list(path.parent.glob("*.corrupt-*")) and before[0] in os.listdir(path.parent)


@needs_binding_modes
def test_no_cache_in_a_read_only_folder_runs_without_one_and_moves_nothing(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        seen, err = child(folder / "judge.sqlite", [key(0)])
    finally:
        folder.chmod(0o700)
    assert seen == {"hits": 0, "stored": False, "read_only": False, "on": False}
    # it said a file was moved when there was none (and `judge` died in a PermissionError traceback)
    assert len(err) == 1 and "cannot create" in err[0] and "moved" not in err[0]


def test_a_file_cut_short_keeps_its_readable_verdicts_in_a_fresh_cache(tmp_path, caplog):
    path = filled(tmp_path / "judge.sqlite", 600, big_every=7)  # 1 in 7 verdicts spans overflow pages
    os.truncate(path, int(path.stat().st_size * 0.85))  # what a full disk or a killed copy leaves
    with caplog.at_level(logging.WARNING, logger="amr_grpo.judge"):
        c = VerdictCache(path)
        got = {i: c.get(key(i)) for i in range(600)}
        c.put(key(1000), verdict(1000))
        c.close()
    kept = {i: v for i, v in got.items() if v is not None}
    # SQLite could read none of them (the inner b-tree pages are written last, so they are the ones cut) and the
    # file was never moved: every later run re-paid all 600. Most rows sit in the 85% that is left.
    assert 0.6 * 600 < len(kept) < 600
    assert all(v == verdict(i, 9000 if i % 7 == 0 else 700) for i, v in kept.items())  # exactly what was stored
    assert any(i % 7 == 0 for i in kept)  # a verdict spread over overflow pages came back whole
    (aside,) = tmp_path.glob("judge.sqlite.corrupt-*")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "damaged" in messages[0] and f"{len(kept)} readable verdicts kept" in messages[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="amr_grpo.judge"):
        again = VerdictCache(path)  # the repair holds: no warning, the new verdict and the kept ones are there
        assert len(again) == len(kept) + 1 and again.get(key(1000)) == verdict(1000)
        again.close()
    assert caplog.records == [] and len(readable_rows(aside)) == len(kept)


def test_a_file_that_is_not_a_database_is_moved_aside_and_a_valid_one_is_not(tmp_path, caplog):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all " * 200)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (x)")
    db.close()
    with caplog.at_level(logging.WARNING, logger="amr_grpo.judge"):
        VerdictCache(junk).close()
        VerdictCache(other).close()  # a readable SQLite file (someone else's table): used, our table added
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "not an SQLite database" in messages[0] and "moved it to" in messages[0]
    assert len(list(tmp_path.glob("junk.sqlite.corrupt-*"))) == 1 and not list(tmp_path.glob("other.sqlite.*"))


def test_damage_met_in_the_middle_of_a_run_is_repaired_then_the_cache_goes_on(tmp_path, caplog):
    path = filled(tmp_path / "judge.sqlite", 600)
    c = VerdictCache(path)  # open and checked: the file is whole now
    size = path.stat().st_size
    with open(path, "r+b") as f:  # something overwrites part of it while the run goes on
        f.seek(size // 2)
        f.write(b"\0" * (size // 5))
    with sqlite3.connect(path) as other:  # another process writes: this run's cached pages are stale
        other.execute("CREATE TABLE elsewhere (x)")
    other.close()
    with caplog.at_level(logging.WARNING, logger="amr_grpo.judge"):
        got = [c.get(key(i)) for i in range(600)]
        c.put(key(1000), verdict(1000))
        after = c.get(key(1000))
        c.close()
    hits = [i for i, v in enumerate(got) if v is not None]
    # it said "read failed", turned the cache off and re-paid every call from then on, run after run
    assert c.enabled and after == verdict(1000) and len(hits) > 300
    assert all(got[i] == verdict(i) for i in hits)
    assert any("repairing" in r.getMessage() for r in caplog.records) and list(tmp_path.glob("judge.sqlite.corrupt-*"))
