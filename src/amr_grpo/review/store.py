"""The review store: exports, items and clinicians' labels in a real database, through SQLAlchemy.

A SQLite file by default (embedded, nothing to start) or PostgreSQL by URL (`postgresql+psycopg://...`; Supabase's
database is PostgreSQL). The schema is created on first use and changed only by the alembic migrations in
./migrations (the version lives in the table `amr_grpo_review_version`, so a database shared with other apps is not
confused). One label per (item, reviewer): a save is one atomic upsert, so two reviewers saving at once never
collide and one reviewer saving twice keeps the latest (its `version` goes up by one). A save that changes nothing
is not written (re-importing a file changes nothing); every change is also appended to `review_label_history`.
Try it: python -m amr_grpo.review.store sqlite:///runs/review/review.sqlite
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from amr_grpo.errors import UserError
from amr_grpo.metrics import METRIC_KEYS

DECISIONS = ("Approve", "Modify", "Reject")
DB_ENV = "AMR_GRPO_DATABASE_URL"
DEFAULT_FILE = "review.sqlite"  # inside the review directory
VERSION_TABLE = "amr_grpo_review_version"
REVIEWER_MAX, REGIMEN_MAX, COMMENT_MAX = 100, 500, 4000
_PG_LOCK = 0x616D7267  # pg_advisory_xact_lock key: one migrating process at a time ("amrg")

# Constraint names are fixed so the migrations and these tables name them alike (alembic compares them).
metadata = MetaData(naming_convention={
    "pk": "pk_%(table_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s", "ix": "ix_%(table_name)s_%(column_0_name)s"})

exports = Table(
    "review_exports", metadata,
    Column("export_id", String(32), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("show_scores", Boolean, nullable=False),
    Column("manifest", JSON, nullable=False),  # seed, n, input, strata: what `review export` was asked
)

items = Table(
    "review_items", metadata,
    Column("item_id", String(64), primary_key=True),
    Column("export_id", String(32), ForeignKey("review_exports.export_id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),  # order shown to reviewers
    Column("case_text", Text, nullable=False),
    Column("output", Text, nullable=False),
    Column("case_data", JSON, nullable=False),  # records.Case.to_dict()
    Column("ground_truth", JSON),
    Column("judges", JSON, nullable=False),  # judge name -> {"scores": {metric: 1-5}, "weighted_reward"}
    Column("reference_decision", String(16)),  # the decision the judges reward (ground truth)
    Column("output_decision", String(16)),  # the reviewed output's own decision
    Column("stratum", String(300), nullable=False),
    Column("source", JSON, nullable=False),  # where the item came from (file, id or line)
)

labels = Table(
    "review_labels", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(64), ForeignKey("review_items.item_id"), nullable=False, index=True),
    Column("reviewer", String(REVIEWER_MAX), nullable=False),
    *[Column(k, SmallInteger, CheckConstraint(f"{k} BETWEEN 1 AND 5", name=f"{k}_1_5")) for k in METRIC_KEYS],
    Column("decision", String(16), CheckConstraint("decision IN ('Approve', 'Modify', 'Reject')", name="decision")),
    Column("regimen", Text),
    Column("comment", Text),
    Column("origin", String(300), nullable=False),  # "web" or "csv:<file name>": where the latest save came from
    Column("version", Integer, nullable=False),  # 1 on insert, +1 on each save that changes something
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("item_id", "reviewer"),
)

history = Table(
    "review_label_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("label_id", Integer, ForeignKey("review_labels.id"), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("content", JSON, nullable=False),  # the label's content after this save
    Column("origin", String(300), nullable=False),
    Column("saved_at", DateTime(timezone=True), nullable=False),
)

CONTENT = (*METRIC_KEYS, "decision", "regimen", "comment")  # what a reviewer writes


@dataclass
class LabelIn:
    """One reviewer's label of one item, already validated at the edge (web form or CSV row)."""

    item_id: str
    reviewer: str
    scores: dict[str, int | None] = field(default_factory=dict)
    decision: str | None = None
    regimen: str | None = None
    comment: str | None = None

    def values(self) -> dict[str, Any]:
        return {**{k: self.scores.get(k) for k in METRIC_KEYS}, "decision": self.decision,
                "regimen": self.regimen or None, "comment": self.comment or None}


def label_status(row: dict[str, Any] | None) -> str:
    """'done' (every metric and the decision), 'partial' (some), 'todo' (no label)."""
    if row is None:
        return "todo"
    filled = [row.get(k) is not None for k in (*METRIC_KEYS, "decision")]
    return "done" if all(filled) else "partial"


def resolve_url(db: str | os.PathLike | None, review_dir: Path | None = None) -> str:
    """--db (a URL, a SQLite file or a review directory) -> $AMR_GRPO_DATABASE_URL -> REVIEW_DIR/review.sqlite."""
    value = str(db) if db is not None else os.environ.get(DB_ENV) or None
    if value is None:
        if review_dir is None:
            raise UserError("no review database given",
                            hint=f"pass --db URL_OR_FILE or set {DB_ENV} (e.g. sqlite:///runs/review/review.sqlite)")
        return f"sqlite:///{Path(review_dir) / DEFAULT_FILE}"
    if "://" not in value:
        path = Path(value)
        return f"sqlite:///{path / DEFAULT_FILE if path.is_dir() else path}"
    for plain in ("postgresql://", "postgres://"):  # what Supabase and libpq print; SQLAlchemy would want psycopg2
        if value.startswith(plain):
            return "postgresql+psycopg://" + value[len(plain):]
    return value


def display_url(url: str) -> str:
    """The URL with its password hidden: what logs, errors and reports may show."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unreadable database URL>"


def _first_line(e: Exception) -> str:
    orig = getattr(e, "orig", None) or e
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0][:300]


def _sqlite_engine(url: str) -> Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" below decides how transactions start
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers do not wait for a writer
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: two savers queue on the busy timeout instead of one of them
        # failing with "database is locked" when it upgrades a read lock (SQLite's deferred default).
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Store:
    """The review database. `Store.open(url)` connects and brings the schema to the latest migration."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        try:
            engine = _sqlite_engine(url) if url.startswith("sqlite") else create_engine(url, pool_pre_ping=True)
        except (ArgumentError, NoSuchModuleError, ImportError) as e:  # ImportError: the dialect's driver is missing
            raise UserError(f"review database URL {display_url(url)}: {_first_line(e)}",
                            hint="use sqlite:///FILE or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB") from None
        store = cls(engine)
        try:
            store.migrate()
        except DBAPIError as e:
            engine.dispose()
            raise UserError(f"cannot use the review database {display_url(url)}: {_first_line(e)}",
                            hint=f"check --db / {DB_ENV}, that the server runs and the user may create tables") \
                from None
        return store

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def migrate(self) -> str:
        """Apply the alembic migrations up to the latest; return the schema revision now in the database."""
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext

        cfg = Config()
        cfg.set_main_option("script_location", "amr_grpo.review:migrations")
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # two processes starting at once: one migrates, one waits
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()

    # ------------------------------------------------------------------ exports and items

    def add_export(self, export: dict[str, Any], rows: Sequence[dict[str, Any]]) -> int:
        """Register an export and its items; what is already there stays as it is. Returns items added."""
        now = datetime.now(timezone.utc)
        added = 0
        with self.engine.begin() as conn:
            if conn.execute(select(exports.c.export_id).where(exports.c.export_id == export["export_id"])).first() \
                    is None:
                conn.execute(exports.insert().values(
                    export_id=export["export_id"], created_at=now, show_scores=bool(export.get("show_scores")),
                    manifest=export))
            have = set(conn.scalars(select(items.c.item_id).where(items.c.export_id == export["export_id"])))
            new = [{**r, "export_id": export["export_id"]} for r in rows if r["item_id"] not in have]
            if new:
                conn.execute(items.insert(), new)
                added = len(new)
        return added

    def items(self, export_id: str | None = None) -> list[dict[str, Any]]:
        q = select(items).order_by(items.c.export_id, items.c.position)
        if export_id is not None:
            q = q.where(items.c.export_id == export_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def item(self, item_id: str, export_id: str | None = None) -> dict[str, Any] | None:
        q = select(items).where(items.c.item_id == item_id)
        if export_id is not None:
            q = q.where(items.c.export_id == export_id)
        with self.engine.connect() as conn:
            row = conn.execute(q).mappings().first()
        return dict(row) if row else None

    # ------------------------------------------------------------------ labels

    def save(self, label: LabelIn, origin: str) -> str:
        """Upsert one label: 'inserted', 'updated' (the latest save wins) or 'unchanged'."""
        return self.save_many([label], origin)[0]

    def save_many(self, batch: Iterable[LabelIn], origin: str) -> list[str]:
        """Upsert labels in one transaction (all or none); one outcome per label, in order."""
        out = []
        with self.engine.begin() as conn:
            for label in batch:
                out.append(self._upsert(conn, label, origin))
        return out

    def _upsert(self, conn: Any, label: LabelIn, origin: str) -> str:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        now = datetime.now(timezone.utc)
        values = label.values()
        ins = insert(labels).values(item_id=label.item_id, reviewer=label.reviewer, origin=origin, version=1,
                                    created_at=now, updated_at=now, **values)
        changed = or_(*[labels.c[k].is_distinct_from(ins.excluded[k]) for k in CONTENT])
        stmt = ins.on_conflict_do_update(
            index_elements=["item_id", "reviewer"],
            set_={**{k: ins.excluded[k] for k in CONTENT}, "origin": ins.excluded.origin,
                  "version": labels.c.version + 1, "updated_at": ins.excluded.updated_at},
            where=changed,
        ).returning(labels.c.id, labels.c.version)
        row = conn.execute(stmt).first()
        if row is None:  # the conflict's WHERE was false: the same label is already stored
            return "unchanged"
        conn.execute(history.insert().values(label_id=row.id, version=row.version, content=values, origin=origin,
                                             saved_at=now))
        return "inserted" if row.version == 1 else "updated"

    def labels(self, reviewer: str | None = None, export_id: str | None = None) -> list[dict[str, Any]]:
        q = select(labels).order_by(labels.c.item_id, labels.c.reviewer)
        if reviewer is not None:
            q = q.where(labels.c.reviewer == reviewer)
        if export_id is not None:
            q = q.where(labels.c.item_id.in_(select(items.c.item_id).where(items.c.export_id == export_id)))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def label(self, item_id: str, reviewer: str) -> dict[str, Any] | None:
        q = select(labels).where(labels.c.item_id == item_id, labels.c.reviewer == reviewer)
        with self.engine.connect() as conn:
            row = conn.execute(q).mappings().first()
        return dict(row) if row else None

    def history(self, item_id: str, reviewer: str) -> list[dict[str, Any]]:
        q = (select(history).join(labels, labels.c.id == history.c.label_id)
             .where(labels.c.item_id == item_id, labels.c.reviewer == reviewer).order_by(history.c.version))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]


if __name__ == "__main__":
    store = Store.open(resolve_url(sys.argv[1] if len(sys.argv) > 1 else None))
    rows = store.labels()
    print(f"{store.url}: {len(store.items())} items, {len(rows)} labels by {len({r['reviewer'] for r in rows})} "
          f"reviewers, schema {store.migrate()}")
