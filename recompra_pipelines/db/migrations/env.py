"""Alembic environment: migrates the CRM database given by `recompra db upgrade`."""

from alembic import context

from recompra_pipelines.db.engine import create_crm_engine
from recompra_pipelines.db.tables import metadata

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_crm_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        # Two processes upgrading at once (demo + daemon) wait for each other.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(4242, 0)")
        context.run_migrations()


run_migrations_online()
