"""Raw ERP extracts: stored with their content hash before anything parses them
(docs/architecture.md#6-nothing-is-lost)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from recompra_pipelines.connectors.extract import extract_text
from recompra_pipelines.db.tables.sync import erp_raw_extracts, erp_staging_extracts


@dataclass(frozen=True)
class StoredExtract:
    id: UUID
    content_hash: str
    integration_type: str
    # The response's bytes as received (empty when read without them).
    content: bytes
    is_new: bool = False
    # What reading it found when it was stored (see ExtractReading); unknown for old rows.
    records: int | None = None
    read_error: str | None = None

    @cached_property
    def text(self) -> str:
        return extract_text(self.content)


def compress_extract(body: bytes) -> bytes:
    """gzip at level 1: ~9x smaller for ERP JSON, and faster to write than the raw text.
    No timestamp in the header, so equal responses compress to equal bytes."""
    return gzip.compress(body, compresslevel=1, mtime=0)


def decompress_extract(data: bytes) -> bytes:
    return gzip.decompress(data)


def store_extract(
    conn: sa.Connection,
    *,
    org_id: str,
    day: date,
    integration_type: str,
    request: dict,
    status_code: int,
    content: bytes,
    content_hash: str,
) -> StoredExtract:
    """Keep one row per distinct response (its exact bytes); seeing it again only bumps its
    capture time."""
    statement = (
        insert(erp_raw_extracts)
        .values(
            organizacao_id=org_id,
            data_referencia=day,
            integracao_tipo=integration_type,
            requisicao=request,
            status_http=status_code,
            hash_conteudo=content_hash,
            conteudo_gzip=compress_extract(content),
            tamanho_bytes=len(content),
        )
        .on_conflict_do_update(
            index_elements=[
                "organizacao_id",
                "data_referencia",
                "integracao_tipo",
                "hash_conteudo",
            ],
            set_={
                "ultima_captura_em": sa.func.now(),
                "capturas": erp_raw_extracts.c.capturas + 1,
            },
        )
        .returning(erp_raw_extracts.c.id, erp_raw_extracts.c.capturas)
    )
    row = conn.execute(statement).one()
    return StoredExtract(
        id=row.id,
        content_hash=content_hash,
        integration_type=integration_type,
        content=content,
        is_new=row.capturas == 1,
    )


def record_reading(
    conn: sa.Connection, extract_id: UUID, records: int | None, read_error: str | None
) -> None:
    """What reading the stored response found: how many records, or why it is unreadable."""
    conn.execute(
        sa.update(erp_raw_extracts)
        .where(erp_raw_extracts.c.id == extract_id)
        .values(registros=records, erro_leitura=read_error)
    )


def extract_is_stored(
    conn: sa.Connection, org_id: str, day: date, integration_type: str, content_hash: str
) -> bool:
    return bool(
        conn.scalar(
            sa.select(sa.literal(1)).where(
                erp_raw_extracts.c.organizacao_id == org_id,
                erp_raw_extracts.c.data_referencia == day,
                erp_raw_extracts.c.integracao_tipo == integration_type,
                erp_raw_extracts.c.hash_conteudo == content_hash,
            )
        )
    )


def touch_extract(
    conn: sa.Connection, org_id: str, day: date, integration_type: str, content_hash: str
) -> UUID:
    return conn.execute(
        sa.update(erp_raw_extracts)
        .where(
            erp_raw_extracts.c.organizacao_id == org_id,
            erp_raw_extracts.c.data_referencia == day,
            erp_raw_extracts.c.integracao_tipo == integration_type,
            erp_raw_extracts.c.hash_conteudo == content_hash,
        )
        .values(ultima_captura_em=sa.func.now(), capturas=erp_raw_extracts.c.capturas + 1)
        .returning(erp_raw_extracts.c.id)
    ).scalar_one()


def latest_extract(
    conn: sa.Connection, org_id: str, day: date, *, with_text: bool = True
) -> StoredExtract | None:
    """The most recently captured response of an org x day."""
    columns = [
        erp_raw_extracts.c.id,
        erp_raw_extracts.c.hash_conteudo,
        erp_raw_extracts.c.integracao_tipo,
        erp_raw_extracts.c.registros,
        erp_raw_extracts.c.erro_leitura,
    ]
    if with_text:
        columns.append(erp_raw_extracts.c.conteudo_gzip)
    row = conn.execute(
        sa.select(*columns)
        .where(
            erp_raw_extracts.c.organizacao_id == org_id, erp_raw_extracts.c.data_referencia == day
        )
        .order_by(erp_raw_extracts.c.ultima_captura_em.desc(), erp_raw_extracts.c.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    return StoredExtract(
        id=row.id,
        content_hash=row.hash_conteudo,
        integration_type=row.integracao_tipo,
        content=decompress_extract(row.conteudo_gzip) if with_text else b"",
        records=row.registros,
        read_error=row.erro_leitura,
    )


def staged_extract_hash(conn: sa.Connection, org_id: str, day: date) -> str | None:
    return conn.scalar(
        sa.select(erp_staging_extracts.c.hash_conteudo).where(
            erp_staging_extracts.c.organizacao_id == org_id,
            erp_staging_extracts.c.data_referencia == day,
        )
    )


def staged_record_counts(conn: sa.Connection, org_id: str, day: date) -> tuple[int, int]:
    """(records received, records quarantined) of the extract the day's staging was built from."""
    received, quarantined = conn.execute(
        sa.select(
            erp_staging_extracts.c.registros_recebidos,
            erp_staging_extracts.c.registros_quarentena,
        ).where(
            erp_staging_extracts.c.organizacao_id == org_id,
            erp_staging_extracts.c.data_referencia == day,
        )
    ).one()
    return received, quarantined
