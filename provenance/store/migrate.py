"""Schema migrations: runs Alembic programmatically and owns the append-only triggers.

The Alembic scripts live in the top-level ``migrations/`` folder, shipped in the wheel as
``provenance.migrations``. The ledger applies them itself when it creates or opens a
database, inside the caller's transaction, so an upgrade commits entirely or not at all.

SQLite batch migrations copy a table and drop the original, which silently drops its
triggers; every migration that alters a log table calls :func:`create_triggers` again.
"""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from provenance.store.schema import LOG_TABLES


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config pointing at the packaged migrations, bound to ``connection``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(files("provenance.migrations")))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Upgrade the schema reachable through ``connection`` (already in a transaction)."""
    command.upgrade(alembic_config(connection), revision)


def create_triggers(connection: Connection, tables: tuple[str, ...] = LOG_TABLES) -> None:
    """Install triggers refusing UPDATE and DELETE (and TRUNCATE on PostgreSQL)."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        for t in tables:
            for op in ("UPDATE", "DELETE"):
                connection.exec_driver_sql(
                    f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t} "
                    f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END"
                )
    elif dialect == "postgresql":
        # No '%' placeholder in the message: psycopg's paramstyle would read it as one.
        connection.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION provenance_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only', "
            "ERRCODE = 'insufficient_privilege'; END $$"
        )
        for t in tables:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
            connection.exec_driver_sql(
                f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                "FOR EACH ROW EXECUTE FUNCTION provenance_append_only()"
            )
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}")
            connection.exec_driver_sql(
                f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
                "FOR EACH STATEMENT EXECUTE FUNCTION provenance_append_only()"
            )
    else:  # pragma: no cover - guarded by Store
        raise ValueError(f"unsupported dialect {dialect}")


def drop_triggers(connection: Connection, tables: tuple[str, ...]) -> None:
    """Remove the append-only triggers (only migrations that must rewrite a table do this)."""
    dialect = connection.dialect.name
    for t in tables:
        if dialect == "sqlite":
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {t}_no_update")
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {t}_no_delete")
        else:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}")
