"""The SQL twins of the idempotency keys (db.key_sql) spell every key exactly like their
Python originals (domain.keys), evaluated on PostgreSQL for sample inputs: a key built one
way and looked up the other must find it, or a re-run writes twice."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from recompra_pipelines.db import key_sql
from recompra_pipelines.domain import keys

SALE = uuid.UUID("7d1f3a52-0000-4000-8000-000000000001")
CLIENT = uuid.UUID("7d1f3a52-0000-4000-8000-000000000002")
LOT = uuid.UUID("7d1f3a52-0000-4000-8000-000000000003")


@pytest.mark.parametrize(
    ("validity", "content", "role"),
    [(0, 0, "COMPRADOR"), (1, 0, "PARCEIRO"), (0, 2, "COMPRADOR"), (3, 11, "PARCEIRO")],
)
def test_accrual_keys_agree(engine, validity, content, role):
    expression = key_sql.accrual_key(
        "CAST(:sale AS uuid)",
        "CAST(:validity AS integer)",
        "CAST(:content AS integer)",
        "CAST(:role AS text)",
        "CAST(:client AS uuid)",
    )
    params = {"sale": SALE, "validity": validity, "content": content, "role": role}
    with engine.connect() as conn:
        built = conn.scalar(sa.text(f"SELECT {expression}"), params | {"client": CLIENT})
    assert built == keys.accrual_key(SALE, validity, content, role, CLIENT)
    assert built.startswith(f"acumulo:{SALE}:r{validity}")


def test_reversal_keys_agree(engine):
    with engine.connect() as conn:
        built = conn.scalar(
            sa.text(f"SELECT {key_sql.reversal_key('CAST(:lot AS uuid)')}"), {"lot": LOT}
        )
    assert built == keys.reversal_key(LOT) == f"estorno:{LOT}"


def test_content_revision_suffixes_agree(engine):
    with engine.connect() as conn:
        for revision in (0, 1, 12):
            built = conn.scalar(
                sa.text(f"SELECT {key_sql.content_revision_suffix('CAST(:n AS integer)')}"),
                {"n": revision},
            )
            assert built == keys.content_revision_suffix(revision)
