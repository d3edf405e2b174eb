"""Meta's throughput limits, shared by every dispatcher through the database
(docs/whatsapp.md#throughput-limits).

Each limit is one ``whatsapp_limites_envio`` row holding the next moment a message may go
out; taking a slot is a single upsert, atomic across runs and processes. This replaces the
old 100 ms sleep between fire-and-forget sends, which neither bounded the
rate nor knew about other runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

_TAKE_NUMBER_SLOT = sa.text(
    """
    INSERT INTO whatsapp_limites_envio AS l
        (organizacao_id, whatsapp_telefone_id, destinatario, proxima_liberacao_data)
    VALUES (:org, :phone, '', CAST(:now AS timestamptz) + :interval)
    ON CONFLICT ON CONSTRAINT uq_whatsapp_limites_envio_chave DO UPDATE
    SET proxima_liberacao_data =
        GREATEST(l.proxima_liberacao_data, CAST(:now AS timestamptz)) + :interval
    RETURNING l.proxima_liberacao_data - :interval
    """
)

_TAKE_RECIPIENT_SLOT = sa.text(
    """
    INSERT INTO whatsapp_limites_envio AS l
        (organizacao_id, whatsapp_telefone_id, destinatario, proxima_liberacao_data)
    VALUES (:org, :phone, :to, CAST(:now AS timestamptz) + :interval)
    ON CONFLICT ON CONSTRAINT uq_whatsapp_limites_envio_chave DO UPDATE
    SET proxima_liberacao_data = CAST(:now AS timestamptz) + :interval
    WHERE l.proxima_liberacao_data <= CAST(:now AS timestamptz)
    RETURNING l.id
    """
)


def take_number_slot(
    engine: sa.Engine, org_id: str, phone_number_id: str, now: datetime, interval: timedelta
) -> datetime:
    """Reserve the number's next send slot; returns when it starts (wait until then).

    Slots are spaced ``interval`` apart, so no one-second window holds more than the limit.
    """
    with engine.begin() as conn:
        return conn.execute(
            _TAKE_NUMBER_SLOT,
            {"org": org_id, "phone": phone_number_id, "now": now, "interval": interval},
        ).scalar_one()


def take_recipient_slot(
    engine: sa.Engine,
    org_id: str,
    phone_number_id: str,
    to: str,
    now: datetime,
    interval: timedelta,
) -> datetime | None:
    """Reserve a send to ``to`` now; None when reserved, else when the recipient frees up."""
    params = {"org": org_id, "phone": phone_number_id, "to": to, "now": now, "interval": interval}
    with engine.begin() as conn:
        if conn.execute(_TAKE_RECIPIENT_SLOT, params).first() is not None:
            return None
        return conn.execute(
            sa.text(
                "SELECT proxima_liberacao_data FROM whatsapp_limites_envio WHERE organizacao_id"
                " = :org AND whatsapp_telefone_id = :phone AND destinatario = :to"
            ),
            params,
        ).scalar_one()


def forget_idle_recipients(engine: sa.Engine, org_id: str, now: datetime) -> int:
    """Drop recipient rows whose limit lapsed over an hour ago (they would only grow)."""
    with engine.begin() as conn:
        return conn.execute(
            sa.text(
                "DELETE FROM whatsapp_limites_envio WHERE organizacao_id = :org"
                " AND destinatario <> '' AND proxima_liberacao_data < CAST(:now AS timestamptz)"
                " - interval '1 hour'"
            ),
            {"org": org_id, "now": now},
        ).rowcount
