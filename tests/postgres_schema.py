"""A throw-away PostgreSQL schema, so tests and benchmarks never touch each other's tables."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import sqlalchemy as sa


@contextmanager
def scratch_schema(base_url: str, prefix: str = "t_") -> Iterator[str]:
    """Create a fresh schema on ``base_url``, yield a URL whose search_path is it, then drop it."""
    schema = prefix + secrets.token_hex(6)
    admin = sa.create_engine(base_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
