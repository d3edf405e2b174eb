"""Total orders on business keys, for every "first", "latest", n-th and FIFO choice in SQL.

A choice whose last tie-breaker is a row's id (a random UUID) makes two databases fed the same
ERP answers disagree, and money with them: sales known only by their day all sit at local
midnight, so the client's first purchase (and its FIXO cashback), the n-th purchase, the order
of a client's accruals (their balances before and after), the lot a FIFO debit takes first
would each fall to chance. These orders end in what the ERP and the org files give instead
(the sale's ERP id, the campaign's key), identical in every database.
"""

from __future__ import annotations


def sale_order(sale: str = "s", *, descending: bool = False) -> str:
    """Sales in time order, ties by their ERP identity (unique per organization)."""
    direction = " DESC" if descending else ""
    return ", ".join(
        f"{sale}.{column}{direction}" for column in ("data_venda", "integracao_tipo", "id_externo")
    )


def lot_key(lot: str = "t", sale: str = "s", campaign: str = "ca") -> str:
    """A ledger lot's identity in business terms: its sale's ERP id, revisions and role, or its
    campaign's key (joins: `sale` on the lot's venda_id, `campaign` on its campanha_id, both
    LEFT). Lots that expire and take effect together are taken in this order."""
    return (
        f"concat_ws('|', {sale}.integracao_tipo, {sale}.id_externo, {lot}.venda_revisao,"
        f" {lot}.venda_conteudo_revisao, {lot}.metadados->>'ator', {campaign}.chave)"
    )


def lot_origin(lot: str = "t") -> str:
    """The LEFT JOINs `lot_key` reads a lot's origin through: its sale `s`, its campaign `ca`."""
    return (
        f" LEFT JOIN sales s ON s.organizacao_id = {lot}.organizacao_id AND s.id = {lot}.venda_id"
        f" LEFT JOIN campaigns ca ON ca.organizacao_id = {lot}.organizacao_id"
        f" AND ca.id = {lot}.campanha_id "
    )


def client_order(client: str = "c") -> str:
    """Clients in the order they became known, ties by their natural keys (together unique)."""
    return ", ".join(
        f"{client}.{column}"
        for column in ("data_insercao", "id_externo", "telefone_base", "cpf_cnpj", "nome_chave")
    )


def campaign_order(campaign: str = "c") -> str:
    """Campaigns by key, the one stable name a campaign has (those the CRM created without
    one after them, by when they were created)."""
    return f"{campaign}.chave NULLS LAST, {campaign}.data_insercao, {campaign}.titulo"
