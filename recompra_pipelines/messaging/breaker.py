"""The circuit breaker of each WhatsApp number: a stalled endpoint is not tried message after
message.

Each send that gets no answer, no connection or a 5xx counts against its connection (the
number); an answer of any kind from Meta (sent, or a Graph error about the message) resets the
count. After `failures` in a row the number is suspended for `cooldown`: the rest of the
batch goes back to PENDENTE, due when the suspension ends, with no attempt used; every
dispatcher (this run's, the next sync's, the dispatcher job's) sees the suspension, stored on
`whatsapp_connections`. The first send after it is a probe: one more failure suspends again.
Without this, a stalled endpoint costs the request deadline per message, and a busy day's
1,800 messages hold the sync for hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

import sqlalchemy as sa


@dataclass(frozen=True)
class BreakerSettings:
    failures: int = 5
    cooldown: timedelta = timedelta(minutes=5)


@dataclass
class Breakers:
    """The breakers of one organization's numbers during one dispatch run."""

    settings: BreakerSettings
    failures: dict[UUID, int] = field(default_factory=dict)
    suspended_until: dict[UUID, datetime] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: sa.Connection, org_id: str, settings: BreakerSettings) -> Breakers:
        rows = conn.execute(
            sa.text(
                "SELECT id, envio_falhas_consecutivas, envio_suspenso_ate"
                " FROM whatsapp_connections WHERE organizacao_id = :org AND ativo"
            ),
            {"org": org_id},
        ).all()
        return cls(
            settings,
            failures={row.id: row.envio_falhas_consecutivas for row in rows},
            suspended_until={
                row.id: row.envio_suspenso_ate for row in rows if row.envio_suspenso_ate
            },
        )

    def open_until(self, connection_id: UUID | None, now: datetime) -> datetime | None:
        """When the number's suspension ends, or None when it may send now."""
        until = self.suspended_until.get(connection_id)
        return until if until is not None and until > now else None

    def all_open(self, now: datetime) -> bool:
        """Every active number is suspended (and there is at least one)."""
        return bool(self.failures) and all(
            self.open_until(connection_id, now) for connection_id in self.failures
        )

    def record_failure(self, conn: sa.Connection, connection_id: UUID, now: datetime) -> bool:
        """Count a send with no usable answer; True when it suspends the number."""
        count = self.failures.get(connection_id, 0) + 1
        self.failures[connection_id] = count
        suspend = count >= self.settings.failures
        if suspend:
            self.suspended_until[connection_id] = now + self.settings.cooldown
        conn.execute(
            sa.text(
                "UPDATE whatsapp_connections SET envio_falhas_consecutivas = :count,"
                " envio_suspenso_ate = CASE WHEN :suspend THEN CAST(:until AS timestamptz)"
                " ELSE envio_suspenso_ate END, data_atualizacao = now() WHERE id = :id"
            ),
            {
                "id": connection_id,
                "count": count,
                "suspend": suspend,
                "until": self.suspended_until.get(connection_id),
            },
        )
        return suspend

    def record_answer(self, conn: sa.Connection, connection_id: UUID) -> None:
        """Meta answered: the number is healthy (written only when that changes anything)."""
        if not self.failures.get(connection_id) and connection_id not in self.suspended_until:
            return
        self.failures[connection_id] = 0
        self.suspended_until.pop(connection_id, None)
        conn.execute(
            sa.text(
                "UPDATE whatsapp_connections SET envio_falhas_consecutivas = 0,"
                " envio_suspenso_ate = NULL, data_atualizacao = now() WHERE id = :id"
            ),
            {"id": connection_id},
        )


def suspended_connections(conn: sa.Connection, org_id: str, now: datetime) -> list[sa.Row]:
    """The organization's active numbers suspended at `now`, with how many sends failed; each
    named by its phone-number id (Cloud API) or its session (internal gateway)."""
    return conn.execute(
        sa.text(
            "SELECT id, COALESCE(whatsapp_telefone_id, gateway_sessao_id) AS numero,"
            " envio_falhas_consecutivas, envio_suspenso_ate"
            " FROM whatsapp_connections WHERE organizacao_id = :org AND ativo"
            " AND envio_suspenso_ate > CAST(:now AS timestamptz) ORDER BY numero"
        ),
        {"org": org_id, "now": now},
    ).all()
