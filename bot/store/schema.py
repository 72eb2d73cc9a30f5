"""The store's tables, columns and indexes, declared once (SQLAlchemy Core).

Alembic's revisions (`bot.migrations`) bring SQLite and PostgreSQL databases to this schema, and
a test checks that a database they migrate matches it exactly. What depends on the list of
tables is derived from here, never typed again:

- `PERSON` and `PHOTO` columns (their `info`) tell `/forgetme` what names a person and what
  hangs on their photos: "delete" the row, or "forget" (set the column to NULL);
- `ASSIGNED_IDS`: tables whose ids the database assigns (an insert reports the id);
- `COPIED`: the tables `labelbot migrate-db` copies, parents first.

To add a column: add it here, then generate its revision (docs: Development).
"""

from __future__ import annotations

import sqlalchemy as sa

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: the rowid itself
INT = sa.BigInteger()
REAL = sa.Double()
TEXT = sa.Text()
BYTES = sa.LargeBinary()

DELETE, FORGET = "delete", "forget"  # what /forgetme does to a row naming the person


def _assigned_id() -> sa.Column:
    return sa.Column("id", ID, sa.Identity(always=False), primary_key=True)


def _person(name: str, *args, action: str = DELETE, **kwargs) -> sa.Column:
    return sa.Column(name, INT, *args, info={"person": action}, **kwargs)


def _photo(*args, action: str = DELETE, **kwargs) -> sa.Column:
    return sa.Column("sample_id", INT, *args, info={"photo": action}, **kwargs)


metadata = sa.MetaData()

users = sa.Table(
    "users", metadata,
    sa.Column("id", INT, primary_key=True, autoincrement=False, info={"person": DELETE}),
    sa.Column("name", TEXT, nullable=False),
    sa.Column("first_seen", REAL, nullable=False),
    sa.Column("last_seen", REAL, nullable=False),
    sa.Column("hidden", INT, nullable=False, server_default="0"),
)  # fmt: skip
labels = sa.Table(
    "labels", metadata,
    sa.Column("id", INT, primary_key=True, autoincrement=False),
    sa.Column("name", TEXT, nullable=False),
    sa.Column("retired", INT, nullable=False, server_default="0"),
    sa.Column("updated_at", REAL, nullable=False),
)  # fmt: skip
samples = sa.Table(
    "samples", metadata,
    _assigned_id(),
    sa.Column("chat_id", INT, nullable=False),
    sa.Column("photo_message_id", INT, nullable=False),
    sa.Column("reply_message_id", INT),
    _person("user_id", nullable=False),
    sa.Column("file_id", TEXT, nullable=False),
    sa.Column("file_unique_id", TEXT, nullable=False),
    sa.Column("embedding", BYTES, nullable=False),
    sa.Column("prediction", TEXT, nullable=False),
    sa.Column("model_version", INT, nullable=False),
    sa.Column("created_at", REAL, nullable=False),
    sa.Column("unavailable_since", REAL),
    # Where the photo stands with the crowd (model_core.consensus.State), the votes that count,
    # and how sure the crowd (the model, before a vote) is: the review queue's order, kept
    # with every vote so that a pick walks an index instead of scanning the photos.
    sa.Column("standing", INT, nullable=False, server_default="0"),
    sa.Column("votes", INT, nullable=False, server_default="0"),
    sa.Column("certainty", REAL, nullable=False, server_default="0"),
    sa.Index("samples_by_file", "file_unique_id"),
    sa.Index("samples_queue", "standing", "votes", "certainty", "id"),
    sa.Index("samples_by_message", "chat_id", "photo_message_id"),
)  # fmt: skip
votes = sa.Table(
    "votes", metadata,
    _assigned_id(),
    _photo(sa.ForeignKey("samples.id"), nullable=False),
    _person("user_id", nullable=False),
    sa.Column("label_id", INT),
    sa.Column("first_guess_right", INT),
    sa.Column("created_at", REAL, nullable=False),
    sa.Column("undone_at", REAL),
    sa.Index(
        "one_vote_per_person", "sample_id", "user_id", unique=True,
        sqlite_where=sa.text("undone_at IS NULL"), postgresql_where=sa.text("undone_at IS NULL"),
    ),
    sa.Index("votes_by_user", "user_id"),
)  # fmt: skip
events = sa.Table(
    "events", metadata,
    _assigned_id(),
    sa.Column("kind", TEXT, nullable=False),
    _person("user_id", action=FORGET),
    _photo(action=FORGET),
    sa.Column("vote_id", INT),  # the vote whose consensus change this event carries
    sa.Column("label_id", INT),
    sa.Column("name", TEXT),
    sa.Column("version", INT),
    sa.Column("created_at", REAL, nullable=False),
    sa.Column("result", TEXT),
    sa.Column("weight", REAL),
    sqlite_autoincrement=True,  # an id is never reused, even after a rolled-back insert
)  # fmt: skip
proposals = sa.Table(
    "proposals", metadata,
    _assigned_id(),
    _photo(nullable=False),
    _person("user_id", nullable=False),
    sa.Column("chat_id", INT, nullable=False),
    sa.Column("prompt_message_id", INT),
    sa.Column("name", TEXT),
    sa.Column("status", TEXT, nullable=False),
    _person("decided_by", action=FORGET),
    sa.Column("created_at", REAL, nullable=False),
)  # fmt: skip
model_versions = sa.Table(
    "model_versions", metadata,
    sa.Column("version", INT, primary_key=True, autoincrement=False),
    sa.Column("event_id", INT),
    sa.Column("created_at", REAL, nullable=False),
)  # fmt: skip
contributions = sa.Table(
    "contributions", metadata,
    _photo(sa.ForeignKey("samples.id"), nullable=False, primary_key=True),
    sa.Column("label_id", INT, nullable=False, primary_key=True, autoincrement=False),
    sa.Column("weight", REAL, nullable=False),
)  # fmt: skip
verdicts = sa.Table(
    "verdicts", metadata,
    _photo(sa.ForeignKey("samples.id"), primary_key=True, autoincrement=False),
    sa.Column("label_id", INT, nullable=False),
    sa.Column("confidence", REAL, nullable=False),
    sa.Column("decided_at", REAL, nullable=False),
)  # fmt: skip
reliability = sa.Table(
    "reliability", metadata,
    _person("user_id", primary_key=True, autoincrement=False),
    sa.Column("reliability", REAL, nullable=False),
    sa.Column("updated_at", REAL, nullable=False),
)  # fmt: skip
bans = sa.Table(
    "bans", metadata,
    _person("user_id", primary_key=True, autoincrement=False),
    _person("banned_by", action=FORGET),
    sa.Column("created_at", REAL, nullable=False),
)  # fmt: skip
reviews = sa.Table(
    "reviews", metadata,
    _assigned_id(),
    _photo(sa.ForeignKey("samples.id"), nullable=False),
    _person("user_id", nullable=False),
    sa.Column("chat_id", INT, nullable=False),
    sa.Column("photo_message_id", INT, nullable=False),
    sa.Column("message_id", INT),
    sa.Column("created_at", REAL, nullable=False),
    sa.Index("reviews_by_message", "chat_id", "message_id"),
)  # fmt: skip
store_meta = sa.Table(
    "store_meta", metadata,
    sa.Column("key", TEXT, primary_key=True),
    sa.Column("value", TEXT, nullable=False),
)  # fmt: skip
console_logins = sa.Table(  # login links used (single use): no person, only the link's nonce
    "console_logins", metadata,
    sa.Column("nonce", TEXT, primary_key=True),
    sa.Column("expires_at", REAL, nullable=False),
)  # fmt: skip
model_heads = sa.Table(
    "model_heads", metadata,
    sa.Column("version", INT, primary_key=True, autoincrement=False),
    sa.Column("last_event_id", INT, nullable=False),
    sa.Column("meta", TEXT, nullable=False),
    sa.Column("arrays", BYTES, nullable=False),
    sa.Column("created_at", REAL, nullable=False),
    info={"copied": False},  # the trainer publishes its head again
)  # fmt: skip
inbox = sa.Table(
    "inbox", metadata,
    sa.Column("bot_id", INT, primary_key=True, autoincrement=False),
    sa.Column("update_id", INT, primary_key=True, autoincrement=False),
    _person("user_id"),
    sa.Column("payload", TEXT, nullable=False),
    sa.Column("owner", TEXT, nullable=False),
    sa.Column("claimed_at", REAL, nullable=False),
    sa.Column("attempts", INT, nullable=False),
    sa.Column("received_at", REAL, nullable=False),
    sa.Column("done_at", REAL),
    sa.Column("in_order", INT),  # 1: handled after the person's older such updates (not photos)
    sa.Index("inbox_open", "done_at", "claimed_at"),
    sa.Index("inbox_by_user", "user_id"),
)  # fmt: skip


def _marked(key: str) -> tuple[tuple[str, str, str], ...]:
    """(table, column, action) of every column marked with `key` in its info."""
    return tuple(
        (table.name, column.name, column.info[key])
        for table in metadata.sorted_tables
        for column in table.columns
        if key in column.info
    )


PERSON = _marked("person")  # columns that name a person
PHOTO = _marked("photo")  # columns that name a photo (a sample)
ASSIGNED_IDS = frozenset(
    table.name for table in metadata.sorted_tables if "id" in table.c and table.c.id.identity
)
COPIED = tuple(t.name for t in metadata.sorted_tables if t.info.get("copied", True))
