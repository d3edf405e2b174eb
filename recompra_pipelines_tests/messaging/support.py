"""WhatsApp test support: a shared fake clock, interactions written directly, a simulator,
signed webhooks."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from psycopg.types.json import Jsonb

from recompra_pipelines.domain.phones import telefone_base
from recompra_pipelines.messaging.channels import WhatsAppChannels
from recompra_pipelines.messaging.cloud_api import CloudApiClient
from recompra_pipelines.messaging.dispatcher import DispatchSettings, dispatch_organization
from recompra_pipelines.messaging.gateway import GatewayClient
from recompra_pipelines.simulators import whatsapp_webhooks as hooks
from recompra_pipelines.simulators.whatsapp import SimTemplate, WhatsAppSimulator
from recompra_pipelines_tests.helpers import new_org

PHONE_ID = "104857600000001"
TOKEN = "wa-secret-token-123"
# The webhook receiver's secrets in tests (the `receiver` fixture).
APP_SECRET = "test-app-secret-9f2c"
VERIFY_TOKEN = "verify-me-41"


def post(url: str, payload: dict, *, secret: str = APP_SECRET) -> httpx.Response:
    """Post a webhook body to the receiver the way Meta does, signed with ``secret``."""
    body = hooks.encode(payload)
    return httpx.post(url, content=body, headers=hooks.signed_headers(secret, body))


class FakeClock:
    """Time that moves only when someone sleeps or the test advances it (thread-safe)."""

    def __init__(self, start: datetime | None = None) -> None:
        # Just ahead of the database's now(), so rows inserted with now() are due.
        self._now = start or datetime.now(UTC) + timedelta(seconds=1)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._now = datetime.now(UTC) + timedelta(seconds=1)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds=seconds)

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now


TEMPLATES = [
    {
        "name": "boas_vindas",
        "parameters": ["clientName", "cashbackAvailableBalance"],
        "body": "Olá {{1}}! Você tem {{2}} de cashback.",
    },
    {
        "name": "volte_sempre",
        "language": "pt_BR",
        "parameter_format": "named",
        "parameters": [
            {"variable": "clientName", "name": "nome"},
            {"variable": "purchaseValue", "name": "valor"},
        ],
        "body": "{{nome}}, obrigado pela compra de {{valor}}!",
    },
    {
        "name": "promo_foto",
        "language": "en_US",
        "header_type": "image",
        "header_media_url": "https://cdn.example.com/promo.jpg",
        "parameters": ["clientName"],
        "body": "Hi {{1}}, see our offer.",
    },
    {"name": "sem_parametros", "body": "Volte sempre!"},
]


def whatsapp_org(
    engine: sa.Engine, *, phone_number_id: str = PHONE_ID, consent: dict | None = None, **extra: Any
) -> str:
    org_id, _ = new_org(
        engine,
        "http://127.0.0.1:9/unused",
        whatsapp={
            "connection": {
                "phone_number_id": phone_number_id,
                "business_account_id": "209715200000001",
                "token": TOKEN,
            },
            "templates": TEMPLATES,
            **({"consent": consent} if consent is not None else {}),
        },
        **extra,
    )
    return org_id


def unique_phone_number_id() -> str:
    """A business number of its own, so customers' messages reach one test organization."""
    return f"1048{secrets.randbelow(10**11):011d}"


def simulator_for_templates(clock: FakeClock | None = None, **kwargs: Any) -> WhatsAppSimulator:
    simulator = WhatsAppSimulator(clock=clock.now if clock else None, **kwargs)
    simulator.register_number(PHONE_ID, TOKEN)
    simulator.register_template(SimTemplate("boas_vindas", "pt_BR", "POSITIONAL", (None, None)))
    simulator.register_template(SimTemplate("volte_sempre", "pt_BR", "NAMED", ("nome", "valor")))
    simulator.register_template(
        SimTemplate("promo_foto", "en_US", "POSITIONAL", (None,), header_type="IMAGE")
    )
    simulator.register_template(SimTemplate("sem_parametros", "pt_BR", "POSITIONAL", ()))
    return simulator


def new_client(
    engine: sa.Engine, org_id: str, *, name: str = "Maria Silva", e164: str | None = None
) -> Any:
    e164 = e164 if e164 is not None else f"+55349{secrets.randbelow(10**8):08d}"
    with engine.begin() as conn:
        return conn.execute(
            sa.text(
                "INSERT INTO clients (organizacao_id, nome, nome_chave, telefone, telefone_base,"
                " telefone_e164) VALUES (:org, :name, :key, :phone, :base, :e164) RETURNING id"
            ),
            {
                "org": org_id,
                "name": name,
                "key": f"{name.lower()} {secrets.token_hex(4)}",
                "phone": e164 or None,
                "base": telefone_base(e164) or None,
                "e164": e164 or None,
            },
        ).scalar_one()


def new_interaction(
    engine: sa.Engine,
    org_id: str,
    client_id: Any,
    template: str = "boas_vindas",
    *,
    metadados: dict | None = None,
    day: date | None = None,
    block: str | None = None,
    inserted_at: datetime | None = None,
    campaign_id: Any = None,
) -> Any:
    """An interaction as the campaign step creates it."""
    with engine.begin() as conn:
        template_id = conn.execute(
            sa.text("SELECT id FROM whatsapp_templates WHERE organizacao_id = :org AND nome = :n"),
            {"org": org_id, "n": template},
        ).scalar_one()
        return conn.execute(
            sa.text(
                """INSERT INTO interactions (organizacao_id, cliente_id, titulo, metadados,
                       chave_idempotencia, whatsapp_template_id, agendamento_data_referencia,
                       agendamento_bloco_referencia, data_insercao, campanha_id)
                   VALUES (:org, :client, 'Envio de mensagem automática via campanha teste',
                       :meta, :key, :template, :day, :block, COALESCE(:at, now()), :campaign)
                   RETURNING id"""
            ),
            {
                "org": org_id,
                "client": client_id,
                "meta": Jsonb(metadados) if metadados is not None else None,
                "key": f"teste:{secrets.token_hex(8)}",
                "template": template_id,
                "day": day,
                "block": block,
                "at": inserted_at,
                "campaign": campaign_id,
            },
        ).scalar_one()


def interaction(engine: sa.Engine, interaction_id: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT * FROM interactions WHERE id = :id"), {"id": interaction_id}
        ).one()


def dispatch(engine, base_url, org_id, clock: FakeClock, **kwargs):
    settings = kwargs.pop("settings", DispatchSettings())
    timeout = kwargs.pop("timeout", 5)
    with WhatsAppChannels(
        CloudApiClient(base_url, "v22.0", timeout_seconds=timeout),
        GatewayClient(timeout_seconds=timeout),
    ) as client:
        return dispatch_organization(
            engine, client, org_id, settings=settings, clock=clock.now, sleep=clock.sleep, **kwargs
        )
