"""The cashback ledger: the organization's program, each client's balance, and the entries.

The ledger is append-mostly (docs/decisions.md#d-08-the-ledger-is-entries-lots-and-allocations).
Every entry carries an idempotency key derived from the business event
(``acumulo:<sale>:<revision>``, ``estorno:<entry>``, ``expiracao:<lot>``…) with a unique index, so a
retried or overlapping run can never credit or debit twice. Each accrual (ACÚMULO) is a *lot*:
``valor_restante`` is what is left of it, and every debit that consumes lots (redemption, expiry,
reversal) records which lots it took from in ``cashback_program_transaction_allocations``, so the
FIFO consumption is auditable and a reversed redemption can give each lot back.

The balance row is a cache of the ledger: ``saldo_valor_disponivel`` must equal the sum of
the client's entries (an asset check proves it). It may go negative only when the program's
policy for reversing already-redeemed cashback is ``SALDO-NEGATIVO`` (claw back).
"""

from __future__ import annotations

import sqlalchemy as sa

from recompra_pipelines.db.tables.base import (
    JSONB,
    Money,
    checked_enum,
    id_column,
    inserted_at_column,
    metadata,
    organization_column,
    updated_at_column,
)
from recompra_pipelines.domain.vocabulary import (
    AmountType,
    ConsumedReversalPolicy,
    LedgerEntryKind,
    LotStatus,
)

Timestamp = sa.DateTime(timezone=True)
# An accrual lot with something left to consume (the partial indexes' predicate).
OPEN_LOT = f"tipo = '{LedgerEntryKind.ACCRUAL}' AND status = '{LotStatus.ACTIVE}'"


cashback_programs = sa.Table(
    "cashback_programs",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("acumulo_tipo", checked_enum("acumulo_tipo", AmountType), nullable=False),
    # FIXO: reais per sale; PERCENTUAL: percent of the sale value (0–100).
    sa.Column("acumulo_valor", Money, nullable=False),
    sa.Column("acumulo_valor_parceiro", Money, nullable=False, server_default="0"),
    sa.Column("acumulo_regra_valor_minimo", Money, nullable=False, server_default="0"),
    sa.Column(
        "acumulo_permitir_via_integracao",
        sa.Boolean,
        nullable=False,
        server_default=sa.text("false"),
    ),
    # Days a lot stays usable after its accrual; NULL means lots never expire. (The old
    # default 0 expired cashback the same evening:
    # docs/decisions.md#d-12-lots-expire-from-the-sales-date.)
    sa.Column("expiracao_regra_validade_valor", sa.Integer, nullable=True),
    sa.Column(
        "resgate_limite_tipo", checked_enum("resgate_limite_tipo", AmountType), nullable=True
    ),
    sa.Column("resgate_limite_valor", Money, nullable=True),
    sa.Column(
        "cancelamento_consumido_politica",
        checked_enum("cancelamento_consumido_politica", ConsumedReversalPolicy),
        nullable=False,
        server_default=ConsumedReversalPolicy.WRITE_OFF.value,
    ),
    sa.Column("ativo", sa.Boolean, nullable=False, server_default=sa.text("true")),
    inserted_at_column(),
    updated_at_column(),
    sa.CheckConstraint(
        "acumulo_valor >= 0 AND acumulo_valor_parceiro >= 0 AND acumulo_regra_valor_minimo >= 0",
        name="valores_nao_negativos",
    ),
    sa.CheckConstraint(
        f"acumulo_tipo <> '{AmountType.PERCENT}'"
        " OR (acumulo_valor <= 100 AND acumulo_valor_parceiro <= 100)",
        name="acumulo_percentual_ate_100",
    ),
    sa.CheckConstraint(
        "expiracao_regra_validade_valor IS NULL OR expiracao_regra_validade_valor > 0",
        name="expiracao_positiva",
    ),
    sa.CheckConstraint(
        "(resgate_limite_tipo IS NULL) = (resgate_limite_valor IS NULL)"
        " AND (resgate_limite_valor IS NULL OR resgate_limite_valor >= 0)"
        f" AND (resgate_limite_tipo IS DISTINCT FROM '{AmountType.PERCENT}'"
        " OR resgate_limite_valor <= 100)",
        name="resgate_limite",
    ),
    # The program of an organization: at most one active at a time.
    sa.Index(
        "uq_cashback_programs_organizacao_id_ativo",
        "organizacao_id",
        unique=True,
        postgresql_where=sa.text("ativo"),
    ),
)

cashback_program_balances = sa.Table(
    "cashback_program_balances",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("programa_id", sa.Uuid, sa.ForeignKey("cashback_programs.id"), nullable=False),
    sa.Column("cliente_id", sa.Uuid, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("saldo_valor_disponivel", Money, nullable=False, server_default="0"),
    sa.Column("saldo_valor_acumulado_total", Money, nullable=False, server_default="0"),
    sa.Column("saldo_valor_resgatado_total", Money, nullable=False, server_default="0"),
    inserted_at_column(),
    updated_at_column(),
    sa.CheckConstraint(
        "saldo_valor_acumulado_total >= 0 AND saldo_valor_resgatado_total >= 0",
        name="totais_nao_negativos",
    ),
    sa.UniqueConstraint(
        "organizacao_id",
        "programa_id",
        "cliente_id",
        name="uq_cashback_program_balances_cliente",
    ),
    sa.Index("ix_cashback_program_balances_cliente_id", "cliente_id"),
)

cashback_program_transactions = sa.Table(
    "cashback_program_transactions",
    metadata,
    id_column(),
    organization_column(),
    sa.Column("programa_id", sa.Uuid, sa.ForeignKey("cashback_programs.id"), nullable=False),
    sa.Column("cliente_id", sa.Uuid, sa.ForeignKey("clients.id"), nullable=False),
    sa.Column("tipo", checked_enum("tipo", LedgerEntryKind), nullable=False),
    sa.Column("status", checked_enum("status", LotStatus), nullable=False),
    # Signed: credits positive, debits negative.
    sa.Column("valor", Money, nullable=False),
    # What is left of an accrual lot; always 0 on other entries.
    sa.Column("valor_restante", Money, nullable=False, server_default="0"),
    sa.Column("saldo_valor_anterior", Money, nullable=False),
    sa.Column("saldo_valor_posterior", Money, nullable=False),
    sa.Column("expiracao_data", Timestamp, nullable=True),
    sa.Column("venda_id", sa.Uuid, sa.ForeignKey("sales.id"), nullable=True),
    sa.Column("venda_valor", Money, nullable=True),
    # The sale's validade_revisao when the accrual was made: an accrual of an older revision
    # (the sale was cancelled and became valid again) is reversed, the new one accrues anew.
    sa.Column("venda_revisao", sa.Integer, nullable=True),
    # The sale's conteudo_revisao when the accrual was decided (NULL: decided before edits
    # were reconciled, i.e. revision 0): an edited sale's accruals are decided again.
    sa.Column("venda_conteudo_revisao", sa.Integer, nullable=True),
    sa.Column("campanha_id", sa.Uuid, sa.ForeignKey("campaigns.id"), nullable=True),
    # The lot (or entry) a reversal or expiry acts on.
    sa.Column(
        "transacao_origem_id",
        sa.Uuid,
        sa.ForeignKey(
            "cashback_program_transactions.id",
            name="fk_cashback_program_transactions_transacao_origem",
        ),
        nullable=True,
    ),
    # On a CANCELAMENTO under policy BAIXA: the already-redeemed part of the reversed lot
    # that the business wrote off instead of clawing it back.
    sa.Column("valor_baixa", Money, nullable=False, server_default="0"),
    sa.Column("chave_idempotencia", sa.Text, nullable=False),
    sa.Column("metadados", JSONB, nullable=True),
    # When the entry takes effect in business time (the sale's time for accruals from sales,
    # so a backfill dates lots and their expiry from the sale, not from the run).
    sa.Column("data_efetivacao", Timestamp, nullable=False, server_default=sa.func.now()),
    inserted_at_column(),
    updated_at_column(),
    sa.CheckConstraint("valor_restante >= 0", name="valor_restante_nao_negativo"),
    sa.CheckConstraint(
        f"valor_baixa >= 0 AND (tipo = '{LedgerEntryKind.REVERSAL}' OR valor_baixa = 0)",
        name="baixa_so_em_cancelamento",
    ),
    sa.CheckConstraint(
        f"tipo <> '{LedgerEntryKind.ACCRUAL}' OR (valor > 0 AND valor_restante <= valor)",
        name="acumulo_positivo",
    ),
    sa.CheckConstraint(
        f"tipo = '{LedgerEntryKind.ACCRUAL}' OR valor_restante = 0", name="restante_so_em_acumulo"
    ),
    sa.CheckConstraint(
        f"tipo NOT IN ('{LedgerEntryKind.REDEMPTION}', '{LedgerEntryKind.EXPIRY}') OR valor < 0",
        name="debito_negativo",
    ),
    sa.CheckConstraint(
        f"status <> '{LotStatus.CONSUMED}'"
        f" OR (tipo = '{LedgerEntryKind.ACCRUAL}' AND valor_restante = 0)",
        name="consumido_sem_restante",
    ),
    sa.CheckConstraint(
        "saldo_valor_posterior = saldo_valor_anterior + valor", name="saldo_posterior_coerente"
    ),
    sa.UniqueConstraint(
        "organizacao_id",
        "chave_idempotencia",
        name="uq_cashback_program_transactions_chave_idempotencia",
    ),
    sa.Index("ix_cashback_program_transactions_cliente", "organizacao_id", "cliente_id"),
    sa.Index("ix_cashback_program_transactions_venda_id", "venda_id"),
    sa.Index("ix_cashback_program_transactions_campanha_id", "campanha_id"),
    sa.Index("ix_cashback_program_transactions_transacao_origem_id", "transacao_origem_id"),
    # Open lots of a client in FIFO order (earliest expiry first) for redemption.
    sa.Index(
        "ix_cashback_program_transactions_lotes_abertos_cliente",
        "organizacao_id",
        "cliente_id",
        "expiracao_data",
        postgresql_where=sa.text(OPEN_LOT),
    ),
    # Open lots by expiry date, for the expiry and expiring-soon jobs.
    sa.Index(
        "ix_cashback_program_transactions_lotes_abertos_expiracao",
        "organizacao_id",
        "expiracao_data",
        postgresql_where=sa.text(OPEN_LOT),
    ),
)

# How much of which lot each debit consumed: earliest expiry first, then oldest.
cashback_program_transaction_allocations = sa.Table(
    "cashback_program_transaction_allocations",
    metadata,
    id_column(),
    organization_column(),
    # The debit (RESGATE, EXPIRAÇÃO or CANCELAMENTO) …
    sa.Column(
        "transacao_id",
        sa.Uuid,
        sa.ForeignKey(
            "cashback_program_transactions.id",
            name="fk_cashback_program_transaction_allocations_transacao",
        ),
        nullable=False,
    ),
    # … and the ACÚMULO lot it took from.
    sa.Column(
        "lote_transacao_id",
        sa.Uuid,
        sa.ForeignKey(
            "cashback_program_transactions.id",
            name="fk_cashback_program_transaction_allocations_lote",
        ),
        nullable=False,
    ),
    sa.Column("valor", Money, nullable=False),
    inserted_at_column(),
    sa.CheckConstraint("valor > 0", name="valor_positivo"),
    sa.UniqueConstraint(
        "organizacao_id",
        "transacao_id",
        "lote_transacao_id",
        name="uq_cashback_program_transaction_allocations_transacao_lote",
    ),
    sa.Index("ix_cashback_program_transaction_allocations_lote", "lote_transacao_id"),
)
