"""Retention of catalog answers and WhatsApp webhook bodies: old ones go; an organization's
latest catalog answer and a body with an event still to apply stay, however old."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from recompra_pipelines.db import retention
from recompra_pipelines.domain.retention import RetentionPolicy
from recompra_pipelines.resources.settings import RecompraSettings
from recompra_pipelines.settings import RETENTION_WEBHOOK_DAYS, SettingError
from recompra_pipelines_tests.helpers import new_org

NOW = datetime.now(UTC)
POLICY = RetentionPolicy(
    raw_extract_days=90, quarantine_days=180, webhook_days=30, catalog_extract_days=60
)
CUTOFFS = POLICY.cutoffs(NOW, date.today())


def _catalog_extract(conn, org_id: str, erp: str, captured_days_ago: int) -> str:
    body = secrets.token_bytes(16)
    return conn.scalar(
        sa.text(
            "INSERT INTO erp_catalog_extracts (organizacao_id, integracao_tipo, status_http,"
            " hash_conteudo, conteudo_gzip, tamanho_bytes, primeira_captura_em,"
            " ultima_captura_em) VALUES (:o, :erp, 200, :h, :b, 16, :at, :at) RETURNING id"
        ),
        {
            "o": org_id,
            "erp": erp,
            "h": hashlib.sha256(body).hexdigest(),
            "b": body,
            "at": NOW - timedelta(days=captured_days_ago),
        },
    )


def _webhook(conn, received_days_ago: int, *, applied: list[bool]) -> str:
    body = secrets.token_bytes(16)
    webhook_id = conn.scalar(
        sa.text(
            "INSERT INTO whatsapp_webhooks (corpo, corpo_sha256, eventos, recebido_em)"
            " VALUES (:b, :h, :n, :at) RETURNING id"
        ),
        {
            "b": body,
            "h": hashlib.sha256(body).hexdigest(),
            "n": len(applied),
            "at": NOW - timedelta(days=received_days_ago),
        },
    )
    for done in applied:
        wamid = f"wamid.{secrets.token_hex(6)}"
        conn.execute(
            sa.text(
                "INSERT INTO whatsapp_eventos (chave, tipo, webhook_id, whatsapp_telefone_id,"
                " whatsapp_message_id, status, evento_data, conteudo, aplicado_em)"
                " VALUES (:k, 'STATUS', :w, '123', :m, 'delivered', :at, '{}', :applied)"
            ),
            {
                "k": f"status:{wamid}:delivered",
                "w": webhook_id,
                "m": wamid,
                "at": NOW,
                "applied": NOW if done else None,
            },
        )
    return webhook_id


def _ids(engine, table: str) -> set:
    with engine.connect() as conn:
        return set(conn.scalars(sa.text(f"SELECT id FROM {table}")))


def test_old_catalog_answers_go_but_each_organizations_latest_stays(engine):
    org_a, _ = new_org(engine, "http://127.0.0.1:9")
    org_b, _ = new_org(engine, "http://127.0.0.1:9")
    with engine.begin() as conn:
        a_old = _catalog_extract(conn, org_a, "ONLINE-SOFTWARE", 200)
        a_older = _catalog_extract(conn, org_a, "ONLINE-SOFTWARE", 300)
        a_recent = _catalog_extract(conn, org_a, "ONLINE-SOFTWARE", 10)
        # Its only answer, a year old: what its catalog tables hold.
        b_only = _catalog_extract(conn, org_b, "CARDAPIO-WEB", 365)

    counts = retention.apply_retention(engine, CUTOFFS)

    kept = _ids(engine, "erp_catalog_extracts")
    assert {a_recent, b_only} <= kept and not {a_old, a_older} & kept
    assert (counts.catalog_extracts_deleted, counts.catalog_extract_bytes_deleted) == (2, 32)


def test_old_webhook_bodies_go_with_their_events_unless_one_is_still_to_apply(engine):
    with engine.begin() as conn:
        applied = _webhook(conn, 40, applied=[True, True])
        pending = _webhook(conn, 40, applied=[True, False])
        unreadable = _webhook(conn, 40, applied=[])
        recent = _webhook(conn, 5, applied=[True])

    counts = retention.apply_retention(engine, CUTOFFS)

    kept = _ids(engine, "whatsapp_webhooks")
    assert {pending, recent} <= kept and not {applied, unreadable} & kept
    assert (counts.webhooks_deleted, counts.webhook_events_deleted) == (2, 2)
    with engine.connect() as conn:
        orphans = conn.scalar(
            sa.text("SELECT count(*) FROM whatsapp_eventos WHERE webhook_id = :w"),
            {"w": applied},
        )
    assert orphans == 0


def test_webhook_bodies_are_deleted_in_batches(engine, monkeypatch):
    monkeypatch.setattr(retention, "WEBHOOKS_PER_BATCH", 2)
    with engine.begin() as conn:
        old = {_webhook(conn, 40, applied=[True]) for _ in range(5)}

    counts = retention.apply_retention(engine, CUTOFFS)

    assert counts.webhooks_deleted >= 5 and not old & _ids(engine, "whatsapp_webhooks")


def test_the_new_retention_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(RETENTION_WEBHOOK_DAYS.env, "14")
    monkeypatch.setenv("RECOMPRA_RETENTION_CATALOG_EXTRACT_DAYS", "45")
    policy = RecompraSettings().retention_policy()
    assert (policy.webhook_days, policy.catalog_extract_days) == (14, 45)
    # Meta delivers an unacknowledged webhook again for up to 7 days.
    monkeypatch.setenv(RETENTION_WEBHOOK_DAYS.env, "7")
    with pytest.raises(SettingError, match="RECOMPRA_RETENTION_WEBHOOK_DAYS='7'"):
        RecompraSettings().retention_policy()
