"""Secrets stay secret. Tokens given by environment variable, an ERP that echoes its token in a
200, a 401, a 500 and in a sale, a WhatsApp API that echoes its token in an error, and an
`org apply` the database refuses: afterwards neither token is anywhere in the CRM database
(every table as text, every stored extract and quarantined record decompressed), in Dagster's
storage under DAGSTER_HOME (files and databases), or in anything the CLI printed."""

from __future__ import annotations

import gzip
import json
import secrets
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from click.testing import CliRunner

from recompra_pipelines.cli import main
from recompra_pipelines_tests.loopback import raw_http

ERP_TOKEN = f"os-{secrets.token_hex(12)}"
WHATSAPP_TOKEN = f"EAAG{secrets.token_hex(12)}"
TODAY = datetime.now(ZoneInfo("America/Sao_Paulo")).date()


def sale(sale_id: str, client: str, phone: str) -> dict:
    day = TODAY.strftime("%d/%m/%Y")
    return {
        "id": sale_id, "cliente": client, "clientefone": "", "clientecelular": phone,
        "documento": sale_id, "modelo": "65", "serie": "1", "valor": "50.00",
        "movimento": "RECEITAS", "data": day, "datahora": f"{day} 10:00:00", "vendedor": "ANA",
        "natureza": "SN01", "tipo": "Venda", "parceiro": "N/A", "situacao": "00", "chave": "",
        "itens": [{"codigo": "P1", "descricao": "Produto", "unidade": "UN", "qtde": "1",
                   "valorunit": "50.00", "vprod": "50.00", "vdesc": "0.00", "vcusto": 10}],
    }  # fmt: skip


class EchoingErp:
    """Online Software answering each call in turn, every answer repeating the token it got."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, headers: dict, body: bytes) -> tuple[int, bytes]:
        token = json.loads(body)["token"]
        self.calls += 1
        answers = {
            1: (200, {"resultado": f"Token {token} nao autorizado"}),
            2: (401, {"erro": f"token {token} invalido"}),
            3: (500, {"erro": f"falha interna (token={token})"}),
        }
        status, answer = answers.get(
            self.calls,
            (
                200,
                {
                    "resultado": [
                        sale("1", f"CLIENTE {token}", "(11) 98765-4321"),
                        sale("2", "MARIA SOUZA", "(11) 97654-3210"),
                    ]
                },
            ),
        )
        return status, json.dumps(answer).encode()


def echoing_meta(headers: dict, body: bytes) -> tuple[int, bytes]:
    token = headers.get("Authorization", "").removeprefix("Bearer ")
    error = {
        "message": f"Invalid OAuth access token - {token}",
        "code": 190,
        "error_data": {"details": f"the token {token} has expired"},
    }
    return 400, json.dumps({"error": error}).encode()


def org_file(org_id: str, erp_url: str) -> dict:
    return {
        "id": org_id,
        "name": "Loja Segredo",
        "effects_start": "2026-01-01",
        "integration": {"type": "online-software", "server_url": erp_url, "token_env": "ERP_T"},
        "whatsapp": {
            "connection": {
                "phone_number_id": "1048576",
                "business_account_id": "2097152",
                "token_env": "WA_T",
            },
            "templates": [
                {"name": "boas_vindas", "parameters": ["clientName"], "body": "Olá {{1}}!"}
            ],
        },
        "campaigns": [
            {
                "key": "boas-vindas",
                "title": "Boas-vindas",
                "trigger": "PRIMEIRA-COMPRA",
                "template": "boas_vindas",
            }
        ],
    }


def grep_database(engine: sa.Engine, needle: str) -> list[str]:
    """Where `needle` occurs in the CRM database: every row of every table as text, plus the
    compressed extracts and raw quarantined records decompressed."""
    found = []
    with engine.connect() as conn:
        tables = conn.scalars(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).all()
        for table in tables:
            hits = conn.scalar(
                sa.text(f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE :pattern'),
                {"pattern": f"%{needle}%"},
            )
            if hits:
                found.append(table)
        for (content,) in conn.execute(sa.text("SELECT conteudo_gzip FROM erp_raw_extracts")):
            if needle.encode() in gzip.decompress(content):
                found.append("erp_raw_extracts.conteudo_gzip")
        for (raw,) in conn.execute(
            sa.text("SELECT registro_bruto FROM erp_quarantine WHERE registro_bruto IS NOT NULL")
        ):
            if needle.encode() in bytes(raw):
                found.append("erp_quarantine.registro_bruto")
    return found


def grep_files(root: Path, needle: str) -> list[str]:
    return [
        str(path)
        for path in root.rglob("*")
        if path.is_file() and needle.encode() in path.read_bytes()
    ]


def test_tokens_appear_nowhere_after_echoes_errors_and_a_failed_apply(
    engine, tmp_path, monkeypatch
):
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("ERP_T", ERP_TOKEN)
    monkeypatch.setenv("WA_T", WHATSAPP_TOKEN)
    monkeypatch.setenv("RECOMPRA_WHATSAPP_DISPATCH", "on")
    runner = CliRunner()
    outputs = []
    org_id = f"segredo-{secrets.token_hex(3)}"
    erp = EchoingErp()

    with raw_http(erp) as erp_url, raw_http(echoing_meta) as meta_url:
        monkeypatch.setenv("WHATSAPP_GRAPH_URL", meta_url)
        path = tmp_path / "org.json"
        path.write_text(json.dumps(org_file(org_id, erp_url)))
        applied = runner.invoke(main, ["org", "apply", str(path)])
        outputs.append(applied.output)
        assert applied.exit_code == 0, applied.output

        sync = ["sync", "--org", org_id, "--date", TODAY.isoformat()]
        # --force: no change check first, so each answer above goes to a run's own fetch.
        echoed_200, echoed_401, after_500 = (
            runner.invoke(main, [*sync, "--force"]) for _ in range(3)
        )
        # Then as an operator syncs: the change check's fetch, answered with the content the
        # last (forced) run completed, so no run.
        checked = runner.invoke(main, sync)
        outputs += [echoed_200.output, echoed_401.output, after_500.output, checked.output]

    assert erp.calls == 5  # the 500 was retried and the day loaded; then the check
    assert checked.exit_code == 0 and "skipped, no run started" in checked.output
    assert echoed_200.exit_code == 1
    assert "erp_raw_extract_is_readable: ERP payload cannot be read: 'resultado' is not a list" \
        " of sales: 'Token [redacted] nao autorizado'" in echoed_200.output  # fmt: skip
    assert echoed_401.exit_code == 1
    assert 'HTTP 401 (not retried): {"erro": "token [redacted] invalido"}' in echoed_401.output
    assert after_500.exit_code == 0, after_500.output
    with engine.connect() as conn:
        names = conn.scalars(
            sa.text("SELECT nome FROM clients WHERE organizacao_id = :o ORDER BY nome"),
            {"o": org_id},
        ).all()
        sends = conn.execute(
            sa.text(
                "SELECT status_envio, erro_codigo, erro_envio FROM interactions"
                " WHERE organizacao_id = :o"
            ),
            {"o": org_id},
        ).all()
    assert names == ["CLIENTE [redacted]", "MARIA SOUZA"]
    assert {(s.status_envio, s.erro_codigo) for s in sends} == {("FALHOU", "190")}
    assert all("[redacted]" in s.erro_envio for s in sends)

    # An apply the database refuses, with the WhatsApp token given inline this time.
    refused_id = f"recusada-{secrets.token_hex(3)}"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE FUNCTION test_refuse_connection() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'connections are frozen'; END $$"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TRIGGER test_refuse_connection BEFORE INSERT ON whatsapp_connections"
                f" FOR EACH ROW WHEN (NEW.organizacao_id = '{refused_id}')"
                " EXECUTE FUNCTION test_refuse_connection()"
            )
        )
    try:
        refused = org_file(refused_id, "http://127.0.0.1:9")
        refused["whatsapp"]["connection"] = {
            "phone_number_id": "2048",
            "business_account_id": "4096",
            "token": WHATSAPP_TOKEN,
        }
        path.write_text(json.dumps(refused))
        failed = runner.invoke(main, ["org", "apply", str(path)])
        outputs.append(failed.output)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER test_refuse_connection ON whatsapp_connections"))
            conn.execute(sa.text("DROP FUNCTION test_refuse_connection()"))
    assert failed.exit_code == 1
    assert failed.output.strip().splitlines()[-1] == (
        f"Error: organization {refused_id} not applied: database: RaiseException:"
        " connections are frozen"
    )

    for token in (ERP_TOKEN, WHATSAPP_TOKEN):
        assert grep_database(engine, token) == []
        assert grep_files(dagster_home, token) == []
        assert not [output for output in outputs if token in output]
    assert grep_files(dagster_home, "[redacted]")  # Dagster did store those errors, redacted
