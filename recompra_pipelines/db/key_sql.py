"""The idempotency keys of ``domain.keys`` as SQL expressions, for queries that build keys
set-wise (one statement for a whole day of sales). Each function returns the SQL twin of the
Python function of the same name; ``recompra_pipelines_tests/db/test_key_sql.py`` evaluates
both on PostgreSQL for sample inputs and requires the same text."""

from __future__ import annotations


def content_revision_suffix(column: str) -> str:
    return f"CASE WHEN {column} > 0 THEN '.c' || {column}::text ELSE '' END"


def accrual_key(
    sale_id: str, validity_revision: str, content_revision: str, role: str, beneficiary_id: str
) -> str:
    """The arguments are SQL expressions (columns) of the accrual's sale and beneficiary."""
    # ':' and 'r' apart: in sa.text(), ':r' would read as a bind parameter named r.
    return (
        f"'acumulo:' || {sale_id}::text || ':' || 'r' || {validity_revision}::text"
        f" || {content_revision_suffix(content_revision)}"
        f" || ':' || lower({role}) || ':' || {beneficiary_id}::text"
    )


def reversal_key(lot_id: str) -> str:
    return f"'estorno:' || {lot_id}::text"
