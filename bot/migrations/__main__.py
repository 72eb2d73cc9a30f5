"""`python -m bot.migrations revision "what changed"`: writes the revision that brings a store
to `bot.store.schema` (Alembic's autogenerate, against a scratch SQLite store at the newest
revision) as `bot/migrations/versions/NNNN_what_changed.py`. Read it, `ruff format` it, and
commit it with the schema's edit."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bot.migrations import HEAD, _upgrade, config, revision_name


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "revision" or not argv[1].strip():
        print('usage: python -m bot.migrations revision "what changed"', file=sys.stderr)
        return 2
    from alembic import command

    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'scratch.sqlite3'}"
        _upgrade(url)
        script = command.revision(
            config(url), argv[1].strip(), autogenerate=True, rev_id=revision_name(HEAD + 1)
        )
    print(script.path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
