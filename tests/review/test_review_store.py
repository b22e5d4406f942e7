"""The review store on a real SQLite file and on a real PostgreSQL server started here (initdb + pg_ctl into a
temporary directory, once per session, unix socket only; as root it runs as the `postgres` user): the schema from
the alembic migrations equals the tables the code uses, upserts (insert / latest wins / unchanged), the history,
the database's own 1-5 check, two reviewers saving at once from threads, and URLs with passwords never shown.
Without PostgreSQL binaries (Debian `postgresql`, installed by `make tools`) the PostgreSQL cases skip and say so,
except under CI, where they fail."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text
from sqlalchemy.exc import IntegrityError

from amr_grpo.errors import UserError
from amr_grpo.metrics import METRIC_KEYS
from amr_grpo.review.store import (
    VERSION_TABLE,
    LabelIn,
    Store,
    display_url,
    label_status,
    labels,
    metadata,
    resolve_url,
)

EXPORT = {"export_id": "e1", "show_scores": False, "seed": 0}


def _items(n: int) -> list[dict]:
    return [{"item_id": f"e1-{i:03d}", "position": i, "case_text": f"case {i}", "output": f"Decision: Approve {i}",
             "case_data": {"id": f"c{i}", "patient": {}, "diagnosis": "cystitis", "prescription": "Tab X"},
             "ground_truth": {"decision": "Approve"}, "judges": {"rules": {"scores": {k: 3 for k in METRIC_KEYS},
                                                                           "weighted_reward": 0.6}},
             "reference_decision": "Approve", "output_decision": "Approve", "stratum": "s", "source": {"line": i}}
            for i in range(1, n + 1)]


# ---------------------------------------------------------------------------------------------- PostgreSQL server

def _pg_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    dirs = ([Path(found).resolve().parent] if found else []) + \
        [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    return next((d for d in dirs if (d / "initdb").exists() and (d / "pg_ctl").exists()), None)


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} in CI: `make tools` installs Debian's postgresql")
    pytest.skip(f"{reason}: install it with `make tools` (Debian's postgresql) to run the PostgreSQL tests")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a unix socket; yields the socket directory."""
    bindir = _pg_bindir()
    if bindir is None:
        _missing("PostgreSQL server binaries (initdb, pg_ctl) not found")
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            _missing("running as root without a `postgres` user to run the server as")
        prefix = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="amr-pg-"))
    if prefix:
        shutil.chown(root, "postgres")
    data = root / "data"

    def run(*cmd: str) -> None:
        r = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{cmd[0]} failed: {r.stderr or r.stdout}"

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "amr", "--auth=trust", "--no-sync", "-E", "UTF8")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
            f"-k {root} -c listen_addresses='' -c fsync=off -c full_page_writes=off", "start")
        yield str(root)
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


_dbs = count()


def _fresh_pg(socket_dir: str) -> str:
    name = f"t{next(_dbs)}"
    admin = create_engine(f"postgresql+psycopg://amr@/postgres?host={socket_dir}", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return f"postgresql+psycopg://amr@/{name}?host={socket_dir}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = resolve_url(None, tmp_path)  # the default: review.sqlite in the review directory
    else:
        url = _fresh_pg(request.getfixturevalue("postgres_server"))
    s = Store.open(url)
    s.add_export(EXPORT, _items(4))
    yield s
    s.close()


# ---------------------------------------------------------------------------------------------- tests

def test_sqlite_is_the_default_and_urls_resolve(tmp_path, monkeypatch):
    monkeypatch.delenv("AMR_GRPO_DATABASE_URL", raising=False)
    assert resolve_url(None, tmp_path) == f"sqlite:///{tmp_path / 'review.sqlite'}"
    assert resolve_url(str(tmp_path)) == f"sqlite:///{tmp_path / 'review.sqlite'}"  # a review directory
    assert resolve_url("labels.db") == "sqlite:///labels.db"
    # what Supabase and psql print is read with psycopg 3
    assert resolve_url("postgresql://u:pw@db.example.org:5432/postgres") == \
        "postgresql+psycopg://u:pw@db.example.org:5432/postgres"
    monkeypatch.setenv("AMR_GRPO_DATABASE_URL", "sqlite:///from-env.sqlite")
    assert resolve_url(None, tmp_path) == "sqlite:///from-env.sqlite"
    monkeypatch.delenv("AMR_GRPO_DATABASE_URL")
    with pytest.raises(UserError, match="no review database"):
        resolve_url(None)
    assert display_url("postgresql+psycopg://u:s3cret@h/db") == "postgresql+psycopg://u:***@h/db"


def test_schema_comes_from_the_migrations_and_matches_the_code(store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    assert store.migrate() == "0001"  # created on first use; running it again is a no-op
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert ctx.get_current_revision() == "0001"
        assert compare_metadata(ctx, metadata) == []  # a table changed in store.py without a migration fails here


def test_upsert_insert_update_unchanged_and_history(store):
    first = LabelIn("e1-001", "ana", {"clinical_accuracy": 4}, "Modify", None, "dose too high")
    assert store.save(first, "web") == "inserted"
    assert store.save(first, "web") == "unchanged"  # the same label again writes nothing
    row = store.label("e1-001", "ana")
    assert (row["version"], row["clinical_accuracy"], row["decision"], label_status(row)) == (1, 4, "Modify", "partial")
    # the same reviewer saving again: the latest wins, explicitly (version 2), the first is kept in the history
    second = LabelIn("e1-001", "ana", {k: 5 for k in METRIC_KEYS}, "Approve", None, None)
    assert store.save(second, "csv:x.csv") == "updated"
    row = store.label("e1-001", "ana")
    assert (row["version"], row["decision"], row["comment"], row["origin"], label_status(row)) == \
        (2, "Approve", None, "csv:x.csv", "done")
    hist = store.history("e1-001", "ana")
    assert [(h["version"], h["content"]["decision"]) for h in hist] == [(1, "Modify"), (2, "Approve")]
    # another reviewer's label of the same item is a separate row
    assert store.save(LabelIn("e1-001", "ben", {"clinical_accuracy": 2}), "web") == "inserted"
    assert [r["reviewer"] for r in store.labels()] == ["ana", "ben"]
    assert [r["reviewer"] for r in store.labels(reviewer="ben")] == ["ben"]


def test_the_database_itself_refuses_a_score_outside_1_5(store):
    now = datetime.now(timezone.utc)
    row = {"item_id": "e1-002", "reviewer": "eve", "origin": "sql", "version": 1, "created_at": now, "updated_at": now}
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(insert(labels).values(**row, clinical_accuracy=7))
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(insert(labels).values(**row, decision="Maybe"))
    with pytest.raises(IntegrityError), store.engine.begin() as conn:  # a label of an item that does not exist
        conn.execute(insert(labels).values(**{**row, "item_id": "nope"}))
    assert store.labels() == []


def test_adding_an_export_twice_changes_nothing(store):
    assert store.add_export(EXPORT, _items(4)) == 0
    assert store.add_export(EXPORT, _items(6)) == 2  # only the new items
    assert [it["item_id"] for it in store.items("e1")] == [f"e1-{i:03d}" for i in range(1, 7)]


def test_two_reviewers_saving_at_once_lose_nothing(store):
    """8 threads, each with its own connection pool (as two server processes would have), 4 reviewers x 4 items x 3
    rounds, all started together: every (item, reviewer) ends with exactly one label, holding its last round."""
    url = store.engine.url.render_as_string(hide_password=False)
    others = [Store.open(url) for _ in range(2)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        s = others[t % 2]
        reviewer = f"r{t % 4}"
        try:
            barrier.wait()
            for rnd in range(1, 4):
                for i in range(1, 5):
                    s.save(LabelIn(f"e1-{i:03d}", reviewer, {"clinical_accuracy": rnd}, "Modify", None,
                                   f"round {rnd}"), "web")
        except BaseException as e:  # noqa: BLE001  (reported below, with the thread)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    for s in others:
        s.close()
    assert errors == []
    rows = store.labels()
    # 4 reviewers x 4 items, one row each; two threads share each reviewer, both end on round 3
    assert len(rows) == 16 and {(r["item_id"], r["reviewer"]) for r in rows} == \
        {(f"e1-{i:03d}", f"r{t}") for i in range(1, 5) for t in range(4)}
    assert {r["clinical_accuracy"] for r in rows} == {3} and {r["comment"] for r in rows} == {"round 3"}
    # every change is counted and kept: at least the 3 rounds, the history as long as the version says
    for r in rows:
        hist = store.history(r["item_id"], r["reviewer"])
        assert r["version"] >= 3 and [h["version"] for h in hist] == list(range(1, r["version"] + 1))


def test_a_server_that_is_not_there_is_one_line(tmp_path):
    with pytest.raises(UserError) as e:
        Store.open(f"postgresql+psycopg://amr:pw@/x?host={tmp_path}&connect_timeout=2")
    assert "cannot use the review database" in str(e.value) and "pw" not in str(e.value)
    with pytest.raises(UserError, match="review database URL"):
        Store.open("nosuchdb://x")
