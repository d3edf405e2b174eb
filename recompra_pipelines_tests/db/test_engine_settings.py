"""What every CRM connection is set up with, read back from the server."""

import sqlalchemy as sa

from recompra_pipelines.db.engine import DatabaseTimeouts, create_crm_engine


def _settings(url: str, timeouts: DatabaseTimeouts | None = None) -> dict[str, str]:
    engine = create_crm_engine(url, timeouts or DatabaseTimeouts())
    try:
        with engine.connect() as conn:
            return {
                name: conn.scalar(sa.text(f"SHOW {name}")) for name in ("jit", "statement_timeout")
            }
    finally:
        engine.dispose()


def test_crm_connections_never_jit_compile_and_bound_every_statement(database_url):
    # PostgreSQL's own default is jit = on.
    settings = _settings(database_url, DatabaseTimeouts(statement_seconds=90))
    assert settings == {"jit": "off", "statement_timeout": "90s"}


def test_a_url_with_its_own_options_keeps_them(database_url):
    url = sa.make_url(database_url).update_query_dict({"options": "-c statement_timeout=5000"})
    settings = _settings(url.render_as_string(hide_password=False))
    assert settings["statement_timeout"] == "5s"
    with sa.create_engine(database_url).connect() as conn:
        assert settings["jit"] == conn.scalar(sa.text("SHOW jit"))
