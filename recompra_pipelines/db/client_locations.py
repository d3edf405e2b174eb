"""Buyers' delivery addresses as client locations (the old CardápioWeb sync dropped them).

Runs after client matching, from the staged sales that carry an address and a buyer: one
location per (client, normalized address), remembering the latest sale delivered there. A
re-run over the same sales writes nothing.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

UPSERT_LOCATIONS = """
INSERT INTO client_locations AS l (
    organizacao_id, cliente_id, chave, logradouro, numero, complemento, bairro, cidade, estado,
    cep, referencia, latitude, longitude, integracao_tipo, ultima_venda_data)
SELECT DISTINCT ON (s.cliente_id, s.entrega_endereco->>'key')
       s.organizacao_id, s.cliente_id, s.entrega_endereco->>'key',
       s.entrega_endereco->>'street', s.entrega_endereco->>'number',
       s.entrega_endereco->>'complement', s.entrega_endereco->>'neighborhood',
       s.entrega_endereco->>'city', s.entrega_endereco->>'state',
       s.entrega_endereco->>'postal_code', s.entrega_endereco->>'reference',
       s.entrega_endereco->>'latitude', s.entrega_endereco->>'longitude',
       s.integracao_tipo, s.data_venda
FROM erp_staging_sales s
WHERE s.organizacao_id = :org AND s.data_referencia = :day
  AND s.cliente_id IS NOT NULL AND s.entrega_endereco IS NOT NULL
ORDER BY s.cliente_id, s.entrega_endereco->>'key', s.data_venda DESC, s.id_externo
ON CONFLICT (organizacao_id, cliente_id, chave) DO UPDATE SET
    referencia = excluded.referencia,
    latitude = excluded.latitude,
    longitude = excluded.longitude,
    ultima_venda_data = excluded.ultima_venda_data,
    data_atualizacao = now()
WHERE l.ultima_venda_data IS NULL OR l.ultima_venda_data < excluded.ultima_venda_data
RETURNING (xmax = 0) AS inserted
"""


def upsert_client_locations(conn: sa.Connection, org_id: str, day: date) -> int:
    """Returns how many new locations were recorded."""
    rows = conn.execute(sa.text(UPSERT_LOCATIONS), {"org": org_id, "day": day}).all()
    return sum(1 for row in rows if row.inserted)
