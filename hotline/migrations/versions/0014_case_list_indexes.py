"""case list indexes: the workspace's views, sorts and text search

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 10:00:00

* composite indexes for the case list's views (a state's cases by deadline, in a district
  or the city; every case by age; what one person registered; a unit's jobs; the extension
  requests waiting), replacing ``(district_code, state)`` and ``(unit_code)``, which they
  begin with;
* PostgreSQL only: ``hotline_search_grams(address, description)``, the two-character pieces
  of a case's text, and a GIN index on it for the list's text search. Trigrams (pg_trgm)
  were tried and left: they never index a two-character word, the most common length of a
  Chinese search, and in a database whose LC_CTYPE is C they see no Chinese at all
  (docs/workspace.md). Building the index reads every case once (about a minute per million
  cases on a small machine).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_cases_district_state_due", ["district_code", "state", "due_at", "id"]),
    ("ix_cases_state_due", ["state", "due_at", "id"]),
    ("ix_cases_district_created", ["district_code", "created_at", "id"]),
    ("ix_cases_created", ["created_at", "id"]),
    ("ix_cases_creator_created", ["created_by", "created_at", "id"]),
    ("ix_cases_unit_state", ["unit_code", "state"]),
)
PENDING = "pending_extension_hours IS NOT NULL"

# Lower case, no white space, then every two neighbouring characters. IMMUTABLE so that an
# index can hold it; the query side calls it on the search term, so both agree on what a
# piece is. Not a trigram: a two-character word (垃圾, 井盖, 路灯) has no trigram at all.
SEARCH_FUNCTION = r"""
CREATE FUNCTION hotline_search_grams(address text, description text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
SELECT ARRAY(SELECT substr(s, i, 2) FROM generate_series(1, char_length(s) - 1) AS i)
FROM lower(regexp_replace(address || description, '\s+', '', 'g')) AS s
$$
"""


def upgrade() -> None:
    op.drop_index("ix_cases_district_state", table_name="cases")
    op.drop_index("ix_cases_unit_code", table_name="cases")
    for name, columns in INDEXES:
        op.create_index(name, "cases", columns)
    op.create_index(
        "ix_cases_pending_extension",
        "cases",
        ["pending_extension_hours"],
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(SEARCH_FUNCTION)
        op.execute(
            "CREATE INDEX ix_cases_search ON cases "
            "USING gin (hotline_search_grams(address, description))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_cases_search")
        op.execute("DROP FUNCTION hotline_search_grams(text, text)")
    op.drop_index("ix_cases_pending_extension", table_name="cases")
    for name, _ in reversed(INDEXES):
        op.drop_index(name, table_name="cases")
    op.create_index("ix_cases_unit_code", "cases", ["unit_code"])
    op.create_index("ix_cases_district_state", "cases", ["district_code", "state"])
