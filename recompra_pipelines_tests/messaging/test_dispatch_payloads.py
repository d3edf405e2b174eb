"""Exact Cloud API payloads, sent over HTTP to the simulator, and what gets recorded."""

from __future__ import annotations

import sqlalchemy as sa
from psycopg.types.json import Jsonb

from recompra_pipelines_tests.helpers import count
from recompra_pipelines_tests.messaging.support import (
    PHONE_ID,
    TOKEN,
    FakeClock,
    dispatch,
    interaction,
    new_client,
    new_interaction,
    simulator_for_templates,
    whatsapp_org,
)


def test_positional_template_payload_and_record(engine):
    org_id = whatsapp_org(engine)
    client = new_client(engine, org_id, name="Maria\n da   Silva", e164="+5555991234567")
    context = {"cashbackSaldoDisponivel": "1234.5", "compraValor": 80}
    iid = new_interaction(engine, org_id, client, "boas_vindas", metadados=context)
    clock = FakeClock()
    simulator = simulator_for_templates(clock)
    with simulator.run_in_thread() as url:
        counts = dispatch(engine, url, org_id, clock)
    assert counts.sent == 1
    [message] = simulator.messages
    assert message["phone_number_id"] == PHONE_ID
    # DDD 55 (Rio Grande do Sul) keeps its country code once, not twice.
    assert message["payload"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5555991234567",
        "type": "template",
        "template": {
            "name": "boas_vindas",
            "language": {"code": "pt_BR"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Maria  da   Silva"},
                        {"type": "text", "text": "R$ 1.234,50"},
                    ],
                }
            ],
        },
        "biz_opaque_callback_data": str(iid),
    }
    row = interaction(engine, iid)
    assert row.status_envio == "ENVIADO"
    assert row.whatsapp_message_id == message["wamid"]
    assert row.envio_tentativas == 1 and row.data_execucao is not None
    assert row.metadados == context  # the trigger context is kept
    assert row.erro_codigo is None


def test_named_template_payload(engine):
    org_id = whatsapp_org(engine)
    client = new_client(engine, org_id, name="João")
    new_interaction(engine, org_id, client, "volte_sempre", metadados={"compraValor": "59.9"})
    clock = FakeClock()
    simulator = simulator_for_templates(clock)
    with simulator.run_in_thread() as url:
        assert dispatch(engine, url, org_id, clock).sent == 1
    template = simulator.messages[0]["payload"]["template"]
    assert template["components"] == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": "nome", "text": "João"},
                {"type": "text", "parameter_name": "valor", "text": "R$ 59,90"},
            ],
        }
    ]


def test_media_header_and_template_language(engine):
    org_id = whatsapp_org(engine)
    new_interaction(engine, org_id, new_client(engine, org_id), "promo_foto")
    new_interaction(engine, org_id, new_client(engine, org_id), "sem_parametros")
    clock = FakeClock()
    simulator = simulator_for_templates(clock)
    with simulator.run_in_thread() as url:
        assert dispatch(engine, url, org_id, clock).sent == 2
    by_name = {m["template"]: m["payload"]["template"] for m in simulator.messages}
    assert by_name["promo_foto"] == {
        "name": "promo_foto",
        "language": {"code": "en_US"},
        "components": [
            {
                "type": "header",
                "parameters": [
                    {"type": "image", "image": {"link": "https://cdn.example.com/promo.jpg"}}
                ],
            },
            {"type": "body", "parameters": [{"type": "text", "text": "Maria Silva"}]},
        ],
    }
    # No footer/buttons, and no empty body component.
    assert by_name["sem_parametros"] == {"name": "sem_parametros", "language": {"code": "pt_BR"}}


def test_bad_inputs_are_settled_before_any_request(engine):
    org_id = whatsapp_org(engine)
    no_phone = new_interaction(engine, org_id, new_client(engine, org_id, e164=""))
    bad_phone = new_interaction(engine, org_id, new_client(engine, org_id, e164="+5500123"))
    # A named template with an empty variable (no seller name in the context).
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE whatsapp_templates SET parametros = :p, corpo_texto = 'Oi {{vendedor}}'"
                " WHERE organizacao_id = :org AND nome = 'volte_sempre'"
            ),
            {
                "org": org_id,
                "p": Jsonb([{"nome": "vendedor", "identificador": "purchaseSellerName"}]),
            },
        )
        conn.execute(
            sa.text(
                "UPDATE whatsapp_templates SET parametros = '[]'::jsonb WHERE organizacao_id = :org"
                " AND nome = 'promo_foto'"
            ),
            {"org": org_id},
        )
    empty = new_interaction(engine, org_id, new_client(engine, org_id), "volte_sempre")
    # The stored template lost its parameter but the body still has {{1}}: 132000 at Meta.
    broken = new_interaction(engine, org_id, new_client(engine, org_id), "promo_foto")
    clock = FakeClock()
    simulator = simulator_for_templates(clock)
    with simulator.run_in_thread() as url:
        counts = dispatch(engine, url, org_id, clock)
    assert simulator.requests == []
    assert (counts.skipped, counts.failed) == (3, 1)
    assert (
        interaction(engine, no_phone).status_envio,
        interaction(engine, no_phone).erro_codigo,
    ) == (
        "IGNORADO",
        "SEM_TELEFONE",
    )
    assert interaction(engine, bad_phone).erro_codigo == "SEM_TELEFONE"
    assert interaction(engine, empty).erro_codigo == "PARAMETRO_VAZIO"
    row = interaction(engine, broken)
    assert (row.status_envio, row.erro_codigo, row.envio_tentativas) == (
        "FALHOU",
        "TEMPLATE_INVALIDO",
        0,
    )


def test_chat_records_when_the_hub_is_on(engine):
    org_id = whatsapp_org(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE organizations SET configuracao ="
                """ '{"recursos": {"hubAtendimentos": {"acesso": true}}}' WHERE id = :org"""
            ),
            {"org": org_id},
        )
    client = new_client(engine, org_id, name="Ana", e164="+5534991112222")
    iid = new_interaction(engine, org_id, client, "boas_vindas")
    clock = FakeClock()
    simulator = simulator_for_templates(clock)
    with simulator.run_in_thread() as url:
        dispatch(engine, url, org_id, clock)
    with engine.connect() as conn:
        chat = conn.execute(
            sa.text("SELECT * FROM chats WHERE organizacao_id = :org"), {"org": org_id}
        ).one()
        message = conn.execute(
            sa.text("SELECT * FROM chat_messages WHERE interacao_id = :id"), {"id": iid}
        ).one()
    assert (chat.whatsapp_telefone, chat.cliente_id) == ("5534991112222", client)
    assert message.status == "ENVIADO"
    assert message.whatsapp_message_id == simulator.messages[0]["wamid"]
    assert message.conteudo_texto == "Olá Ana! Você tem R$ 0,00 de cashback."
    assert message.autor_tipo == "USUÁRIO"
    other = whatsapp_org(engine)
    new_interaction(engine, other, new_client(engine, other), "boas_vindas")
    with simulator.run_in_thread() as url:
        dispatch(engine, url, other, clock)
    assert count(engine, "SELECT count(*) FROM chats WHERE organizacao_id = :o", o=other) == 0


def test_token_never_in_errors(engine):
    org_id = whatsapp_org(engine)
    iid = new_interaction(engine, org_id, new_client(engine, org_id))
    clock = FakeClock()
    simulator = simulator_for_templates(clock)
    simulator.register_number(PHONE_ID, "another-token")  # ours is now rejected: 190
    with simulator.run_in_thread() as url:
        dispatch(engine, url, org_id, clock)
    row = interaction(engine, iid)
    assert (row.status_envio, row.erro_codigo) == ("FALHOU", "190")
    assert TOKEN not in (row.erro_envio or "")


def test_client_variables_come_from_the_crm_when_the_trigger_stored_none(engine):
    from recompra_pipelines.simulators.whatsapp import SimTemplate
    from recompra_pipelines_tests.helpers import new_org

    variables = ["clientFavoriteProduct", "clientFavoriteProductGroup", "clientEmail",
                 "cashbackLifetimeRedeemed"]  # fmt: skip
    template = {"name": "favorito", "parameters": variables, "body": "{{1}} {{2}} {{3}} {{4}}"}
    org_id, _ = new_org(
        engine,
        "http://127.0.0.1:9/unused",
        whatsapp={
            "connection": {"phone_number_id": PHONE_ID, "business_account_id": "2", "token": TOKEN},
            "templates": [template],
        },
        cashback_program={"accrual_type": "PERCENTUAL", "accrual_value": "5"},
    )
    new_buyer, analysed = new_client(engine, org_id), new_client(engine, org_id, name="Bia")
    with engine.begin() as conn:
        params = {"o": org_id, "buyer": new_buyer, "analysed": analysed}
        conn.execute(
            sa.text(
                """
                WITH p AS (INSERT INTO products (organizacao_id, codigo, descricao, grupo) VALUES
                             (:o, 'PZ', 'Pizza', 'Massas'), (:o, 'SC', 'Suco', 'Bebidas')
                           RETURNING id, codigo),
                     s AS (INSERT INTO sales (organizacao_id, integracao_tipo, id_externo,
                             data_referencia, data_venda, data_venda_precisao, cliente_id,
                             valor_total, custo_total, valida, hash_conteudo)
                           VALUES (:o, 'ONLINE-SOFTWARE', 'v1', '2026-03-02', now(), 'ERP',
                             :buyer, 50, 0, true, 'h') RETURNING id)
                INSERT INTO sale_items (organizacao_id, venda_id, linha, produto_id, quantidade,
                  valor_unitario, valor_venda_total_bruto, valor_total_desconto,
                  valor_venda_total_liquido, valor_custo_unitario, valor_custo_total)
                SELECT :o, s.id, row_number() OVER (ORDER BY p.codigo), p.id,
                       CASE p.codigo WHEN 'PZ' THEN 2 ELSE 1 END, 10, 10, 0, 10, 0, 0
                FROM s, p
                """
            ),
            params,
        )
        # Bia was analysed by the nightly RFM: her favourite is the CRM's; she has an e-mail
        # and has redeemed cashback.
        conn.execute(
            sa.text(
                """UPDATE clients SET email = 'bia@example.com', metadata_grupo_mais_comprado = 'Bebidas',
                     metadata_produto_mais_comprado_id = (SELECT id FROM products
                       WHERE organizacao_id = :o AND codigo = 'SC') WHERE id = :analysed"""
            ),
            params,
        )
        conn.execute(
            sa.text(
                """INSERT INTO cashback_program_balances (organizacao_id, programa_id, cliente_id,
                     saldo_valor_resgatado_total)
                   SELECT :o, id, :analysed, 3.5 FROM cashback_programs WHERE organizacao_id = :o"""
            ),
            params,
        )
    purchase = {"compraValor": "50.00", "cashbackSaldoDisponivel": "2.50"}
    first = new_interaction(engine, org_id, new_buyer, "favorito", metadados=purchase)
    second = new_interaction(engine, org_id, analysed, "favorito", metadados=purchase)
    clock = FakeClock()
    simulator = simulator_for_templates(clock)
    simulator.register_template(SimTemplate("favorito", "pt_BR", "POSITIONAL", (None,) * 4))
    with simulator.run_in_thread() as url:
        counts = dispatch(engine, url, org_id, clock)

    # The new buyer has no e-mail: that message is not sent, and says why.
    assert (counts.sent, counts.skipped) == (1, 1)
    assert interaction(engine, first).erro_codigo == "PARAMETRO_VAZIO"
    assert "clientEmail" in interaction(engine, first).erro_envio
    [message] = simulator.messages
    assert message["payload"]["biz_opaque_callback_data"] == str(second)
    texts = [p["text"] for p in message["payload"]["template"]["components"][0]["parameters"]]
    assert texts == ["Suco", "Bebidas", "bia@example.com", "R$ 3,50"]

    # The new buyer, not analysed yet: the most bought product of his purchases.
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE clients SET email = 'ana@example.com' WHERE id = :c"), {"c": new_buyer}
        )
    third = new_interaction(engine, org_id, new_buyer, "favorito", metadados=purchase)
    # The fake clock moved only by the first dispatch's waits, while the new interaction was
    # stored at the database's now(): on a loaded machine that is more than the clock's one
    # second ahead, and the interaction would not be due yet.
    clock.advance(seconds=60)
    with simulator.run_in_thread() as url:
        assert dispatch(engine, url, org_id, clock).sent == 1
    message = simulator.messages[-1]
    assert message["payload"]["biz_opaque_callback_data"] == str(third)
    texts = [p["text"] for p in message["payload"]["template"]["components"][0]["parameters"]]
    assert texts == ["Pizza", "Massas", "ana@example.com", "R$ 0,00"]
