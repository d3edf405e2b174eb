"""How far the sync of one org x day got: the latest raw extract, what staging holds, and
which staged content each later step completed for (the markers on erp_staging_extracts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import sqlalchemy as sa


class StepMarker(StrEnum):
    """The erp_staging_extracts column recording the staged content a step completed for."""

    ENTITIES = "entidades_hash_conteudo"
    SALES = "vendas_hash_conteudo"
    CASHBACK = "cashback_hash_conteudo"
    # Every step of a sync run; recorded by `recompra sync` after its run succeeded.
    COMPLETE_SYNC = "sincronizacao_hash_conteudo"


@dataclass(frozen=True)
class DayProgress:
    latest_extract_hash: str | None
    # Why the latest extract cannot be read as a list of sales, when it cannot.
    latest_extract_error: str | None
    staged_hash: str | None
    staged_records: int | None
    completed: dict[StepMarker, str | None]

    def done(self, marker: StepMarker) -> bool:
        """Whether the step completed for the content staging holds now."""
        return self.staged_hash is not None and self.completed[marker] == self.staged_hash


_PROGRESS = f"""
SELECT latest.hash_conteudo AS latest_hash, latest.erro_leitura AS latest_error,
       s.hash_conteudo AS staged_hash, s.registros_recebidos AS staged_records,
       {", ".join(f"s.{m.value}" for m in StepMarker)}
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
    SELECT e.hash_conteudo, e.erro_leitura FROM erp_raw_extracts e
    WHERE e.organizacao_id = :org AND e.data_referencia = :day
    ORDER BY e.ultima_captura_em DESC, e.id LIMIT 1) AS latest ON true
LEFT JOIN erp_staging_extracts s ON s.organizacao_id = :org AND s.data_referencia = :day
"""


def day_progress(conn: sa.Connection, org_id: str, day: date) -> DayProgress:
    row = conn.execute(sa.text(_PROGRESS), {"org": org_id, "day": day}).one()
    return DayProgress(
        latest_extract_hash=row.latest_hash,
        latest_extract_error=row.latest_error,
        staged_hash=row.staged_hash,
        staged_records=row.staged_records,
        completed={m: getattr(row, m.value) for m in StepMarker},
    )


def mark_done(
    conn: sa.Connection,
    org_id: str,
    day: date,
    marker: StepMarker,
    *,
    content_hash: str | None = None,
) -> None:
    """Record, in the step's own transaction, that it completed for the staged content (no
    write when it already had: a re-run over unchanged data writes nothing). With
    `content_hash` (the ERP answer a whole sync run fetched), only while staging still holds
    that content: a day another run restaged meanwhile records nothing, and the next sync runs."""
    conn.execute(
        sa.text(
            f"UPDATE erp_staging_extracts SET {marker.value} = hash_conteudo"
            " WHERE organizacao_id = :org AND data_referencia = :day"
            f" AND {marker.value} IS DISTINCT FROM hash_conteudo"
            + ("" if content_hash is None else " AND hash_conteudo = :content_hash")
        ),
        {"org": org_id, "day": day, "content_hash": content_hash},
    )
