"""Options and helpers shared by the ``scangate registry`` commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import platformdirs

from registry.db import DB_ENV_VAR, Database
from registry.setup import check_schema
from registry.template_seal import TEMPLATE_KEY_ENV_VAR, TemplateKeySource


def default_db() -> str:
    """The default registry database: a SQLite file in the user's data directory."""
    return str(Path(platformdirs.user_data_dir("scangate", appauthor=False)) / "registry.sqlite3")


db_option = click.option(
    "--db",
    "db_url",
    envvar=DB_ENV_VAR,
    default=default_db,
    show_default="SQLite file in the user data dir",
    help=f"Database: a SQLite file path, sqlite:///PATH or postgresql+psycopg://USER:PASS@HOST/DB (or ${DB_ENV_VAR}).",
)


template_key_option = click.option(
    "--template-key",
    "template_key_path",
    envvar=TEMPLATE_KEY_ENV_VAR,
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=f"File of the key that seals face templates in the database (or ${TEMPLATE_KEY_ENV_VAR};"
    " default: registry-template.key in the user data dir). `init` creates it.",
)


@contextmanager
def open_database(db_url: str, template_key_path: Path | None = None) -> Iterator[Database]:
    """The database at ``db_url``, checked to be initialised with this schema; closed afterwards."""
    database = Database.open(db_url, TemplateKeySource(path=template_key_path))
    try:
        check_schema(database)
        yield database
    finally:
        database.close()
