"""alembic's entry point for the review store's migrations (amr_grpo.review.store.Store.migrate runs them).

The caller hands over an open connection inside a transaction (`config.attributes["connection"]`); nothing here
reads a URL or an ini file. A new migration: copy versions/0001_initial.py to the next number, set `revision` and
`down_revision`, write upgrade(); tests/review/test_review_store.py fails until the tables in store.py and the
migrations agree.
"""

from alembic import context

from amr_grpo.review.store import VERSION_TABLE, metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite alters a table by copying it; alembic's batch mode does that
)
with context.begin_transaction():
    context.run_migrations()
