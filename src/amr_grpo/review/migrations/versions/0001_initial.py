"""The first review schema: exports, items, one label per (item, reviewer) with its history.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The six rubric metrics of amr-rubric-v1, written out: a migration is a snapshot, it never reads metrics.json.
METRICS = ("clinical_accuracy", "guideline_adherence", "reasoning_completeness", "safety_awareness",
           "decision_appropriateness", "reference_accuracy")


def upgrade() -> None:
    op.create_table(
        "review_exports",
        sa.Column("export_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("show_scores", sa.Boolean(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("export_id", name="pk_review_exports"),
    )
    op.create_table(
        "review_items",
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("export_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("case_text", sa.Text(), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("case_data", sa.JSON(), nullable=False),
        sa.Column("ground_truth", sa.JSON(), nullable=True),
        sa.Column("judges", sa.JSON(), nullable=False),
        sa.Column("reference_decision", sa.String(16), nullable=True),
        sa.Column("output_decision", sa.String(16), nullable=True),
        sa.Column("stratum", sa.String(300), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["export_id"], ["review_exports.export_id"], name="fk_review_items_export_id"),
        sa.PrimaryKeyConstraint("item_id", name="pk_review_items"),
    )
    op.create_index("ix_review_items_export_id", "review_items", ["export_id"])
    op.create_table(
        "review_labels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("reviewer", sa.String(100), nullable=False),
        *[sa.Column(k, sa.SmallInteger(), nullable=True) for k in METRICS],
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("regimen", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("origin", sa.String(300), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *[sa.CheckConstraint(f"{k} BETWEEN 1 AND 5", name=f"ck_review_labels_{k}_1_5") for k in METRICS],
        sa.CheckConstraint("decision IN ('Approve', 'Modify', 'Reject')", name="ck_review_labels_decision"),
        sa.ForeignKeyConstraint(["item_id"], ["review_items.item_id"], name="fk_review_labels_item_id"),
        sa.PrimaryKeyConstraint("id", name="pk_review_labels"),
        sa.UniqueConstraint("item_id", "reviewer", name="uq_review_labels_item_id"),
    )
    op.create_index("ix_review_labels_item_id", "review_labels", ["item_id"])
    op.create_table(
        "review_label_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(300), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["label_id"], ["review_labels.id"], name="fk_review_label_history_label_id"),
        sa.PrimaryKeyConstraint("id", name="pk_review_label_history"),
    )
    op.create_index("ix_review_label_history_label_id", "review_label_history", ["label_id"])


def downgrade() -> None:
    for table in ("review_label_history", "review_labels", "review_items", "review_exports"):
        op.drop_table(table)
