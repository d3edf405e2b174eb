"""How many WhatsApp webhook events the receiver sustains, and how fast it answers.

`python -m bench.webhooks` seeds a throwaway database (bench.database) with one organization
and MESSAGES sent campaign messages, starts `recompra serve webhooks` in its own process, and
from this process — the load generator — posts Meta's traffic for them, once as a steady
stream and once as a burst (CONCURRENCY deliveries in flight): a signed body per status
(sent, delivered, read for each message, in shuffled order, as Meta does not keep order),
10 % of the bodies delivered twice (Meta's retries), and one customer in twenty writing
PARAR. Every delivery goes the whole way: HMAC check, raw body and events stored, statuses
merged into the interactions and chat messages, opt-outs recorded.

Reported per level: events per second (distinct events stored and applied, over the burst's
wall time), deliveries per second, latency percentiles as the generator saw them, the
receiver's and the generator's CPU per delivery, and a check that the final state is exactly
right. Writes `bench/results/webhooks.md`. Target: p99 ≤ 1 s — Meta and the BSPs ask for a 2xx
within a few seconds (3–5 s are the budgets they cite); the rest is network and TLS.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.database import bench_database
from bench.report import Figure, figure_rows, markdown_table, text_table
from recompra_pipelines.db.engine import create_crm_engine
from recompra_pipelines.messaging.webhook_receiver import BATCH_WORKERS, WEBHOOK_PATH
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.orgfile_store.writer import apply_org_file
from recompra_pipelines.simulators import whatsapp_webhooks as hooks

MESSAGES = 3_000
# Deliveries in flight at once: a steady stream, and a burst (a campaign block going out).
CONCURRENCY = (16, 64)
DUPLICATE_SHARE = 0.10
OPT_OUT_EVERY = 20
P99_TARGET_SECONDS = 1.0
ORG = "bench-webhooks"
PHONE_NUMBER_ID = "104857600000042"
RESULTS = Path(__file__).parent / "results" / "webhooks.md"

SEED = """
INSERT INTO clients (organizacao_id, nome, nome_chave, telefone, telefone_base, telefone_e164)
SELECT :org, 'Cliente ' || g, 'cliente ' || g, '+55349' || lpad(g::text, 8, '0'),
       '34' || lpad(g::text, 8, '0'), '+55349' || lpad(g::text, 8, '0')
FROM generate_series(1, :messages) g;
INSERT INTO interactions (organizacao_id, cliente_id, titulo, chave_idempotencia, status_envio,
                          whatsapp_message_id, data_envio, data_execucao, envio_tentativas)
SELECT :org, c.id, 'Bench', 'bench:' || c.id, 'ENVIADO', 'wamid.bench.' || c.id, :sent, :sent, 1
FROM clients c WHERE c.organizacao_id = :org;
ANALYZE clients; ANALYZE interactions
"""


def _seed(engine: sa.Engine) -> list[tuple[str, str, str]]:
    """(interaction id, wamid, wa_id) of every sent message."""
    org = OrgFile.model_validate(
        {
            "id": ORG,
            "name": "Bench webhooks",
            "whatsapp": {
                "connection": {
                    "phone_number_id": PHONE_NUMBER_ID,
                    "business_account_id": hooks.WABA_ID,
                    "token": "bench-token",
                }
            },
        }
    )
    sent = datetime.now(UTC) - timedelta(minutes=5)
    with engine.begin() as conn:
        apply_org_file(conn, org)
        for statement in SEED.split(";\n"):
            conn.execute(sa.text(statement), {"org": ORG, "messages": MESSAGES, "sent": sent})
        rows = conn.execute(
            sa.text(
                "SELECT i.id, i.whatsapp_message_id, c.telefone_e164 FROM interactions i"
                " JOIN clients c ON c.id = i.cliente_id WHERE i.organizacao_id = :org"
            ),
            {"org": ORG},
        ).all()
    return [(str(r.id), r.whatsapp_message_id, r.telefone_e164.removeprefix("+")) for r in rows]


def _traffic(messages, app_secret: str) -> tuple[list[tuple[bytes, dict]], int]:
    """Signed bodies in delivery order, and how many distinct events they carry."""
    rng = random.Random(15)
    start = datetime.now(UTC)
    payloads = []
    for n, (interaction_id, wamid, wa_id) in enumerate(messages):
        for offset, state in enumerate(("sent", "delivered", "read")):
            at = start + timedelta(seconds=offset * 5)
            status = hooks.status(wamid, state, at, wa_id, callback=interaction_id)
            payloads.append(hooks.webhook(PHONE_NUMBER_ID, statuses=[status]))
        if n % OPT_OUT_EVERY == 0:
            message = hooks.text_message(wa_id, "PARAR", start + timedelta(seconds=30))
            payloads.append(hooks.webhook(PHONE_NUMBER_ID, messages=[message]))
    distinct = len(payloads)
    payloads += rng.sample(payloads, int(len(payloads) * DUPLICATE_SHARE))
    rng.shuffle(payloads)
    bodies = [hooks.encode(p) for p in payloads]
    return [(b, hooks.signed_headers(app_secret, b)) for b in bodies], distinct


def _requests(port: int, traffic) -> list[bytes]:
    """Each delivery as the exact bytes of an HTTP/1.1 request (keep-alive)."""
    requests = []
    for body, headers in traffic:
        head = [f"POST {WEBHOOK_PATH} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        requests.append(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return requests


async def _burst(
    port: int, requests: list[bytes], concurrency: int
) -> tuple[float, list[float], list[int]]:
    """``concurrency`` keep-alive connections sending the requests as fast as answers come back.

    A minimal HTTP/1.1 client over asyncio streams: a general-purpose Python client spends
    ~3 ms of CPU per request, more than the receiver itself, and on a 2-core machine it would
    measure itself instead of the receiver."""
    queue: asyncio.Queue = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    latencies: list[float] = []
    statuses: list[int] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not queue.empty():
                request = queue.get_nowait()
                began = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = next(
                    int(line.split(":", 1)[1])
                    for line in lines
                    if line.lower().startswith("content-length:")
                )
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - began)
                statuses.append(int(lines[0].split()[1]))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, statuses


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_receiver(database_url: str, app_secret: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "WHATSAPP_APP_SECRET": app_secret,
        "WHATSAPP_WEBHOOK_VERIFY_TOKEN": secrets.token_hex(8),
        "RECOMPRA_DATABASE_URL": database_url,
    }
    command = [sys.executable, "-m", "recompra_pipelines.cli", "serve", "webhooks", "--port"]
    process = subprocess.Popen(
        [*command, str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("the webhook receiver did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _final_state(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.text(
                    """SELECT 'read' AS k, count(*) FROM interactions
                       WHERE organizacao_id = :org AND status_envio = 'LIDO'
                         AND data_entrega IS NOT NULL AND data_leitura IS NOT NULL
                       UNION ALL SELECT 'events', count(*) FROM whatsapp_eventos
                       UNION ALL SELECT 'pending', count(*) FROM whatsapp_eventos
                       WHERE aplicado_em IS NULL
                       UNION ALL SELECT 'opted_out', count(*) FROM whatsapp_contatos
                       WHERE organizacao_id = :org AND descadastrado"""
                ),
                {"org": ORG},
            ).all()
        )


_RESET = """
DELETE FROM whatsapp_webhooks;
DELETE FROM whatsapp_contatos;
UPDATE interactions SET status_envio = 'ENVIADO', data_entrega = NULL, data_leitura = NULL,
    data_falha = NULL WHERE organizacao_id = :org
"""


@dataclass(frozen=True)
class Burst:
    concurrency: int
    deliveries: int
    distinct: int
    wall: float
    latencies: list[float]
    receiver_cpu: float | None
    generator_cpu: float
    correct: bool
    final: dict[str, int]


def _run_burst(engine, port: int, receiver_pid: int, messages, app_secret, concurrency) -> Burst:
    with engine.begin() as conn:
        for statement in _RESET.split(";\n"):
            conn.execute(sa.text(statement), {"org": ORG})
    traffic, distinct = _traffic(messages, app_secret)
    requests = _requests(port, traffic)
    cpu_before = _cpu_seconds(receiver_pid)
    generator_cpu = time.process_time()
    wall, latencies, statuses = asyncio.run(_burst(port, requests, concurrency))
    generator_cpu = time.process_time() - generator_cpu
    cpu_after = _cpu_seconds(receiver_pid)
    final = _final_state(engine)
    opt_outs = len(range(0, MESSAGES, OPT_OUT_EVERY))
    expected = {"read": MESSAGES, "events": distinct, "pending": 0, "opted_out": opt_outs}
    return Burst(
        concurrency=concurrency,
        deliveries=len(traffic),
        distinct=distinct,
        wall=wall,
        latencies=latencies,
        receiver_cpu=None if cpu_before is None else cpu_after - cpu_before,
        generator_cpu=generator_cpu,
        correct=final == expected and set(statuses) == {200},
        final=final,
    )


def _figures(burst: Burst) -> list[Figure]:
    quantiles = statistics.quantiles(burst.latencies, n=100)
    p99 = quantiles[98]
    cpu = burst.receiver_cpu
    at = f"{burst.concurrency} at a time: "
    return [
        Figure(at + "events stored and applied per second", f"{burst.distinct / burst.wall:,.0f}"),
        Figure(at + "deliveries per second", f"{burst.deliveries / burst.wall:,.0f}"),
        Figure(
            at + "latency p50 / p95",
            f"{quantiles[49] * 1000:.1f} ms / {quantiles[94] * 1000:.1f} ms",
        ),
        Figure(
            at + "latency p99",
            f"{p99 * 1000:.1f} ms",
            f"≤ {P99_TARGET_SECONDS * 1000:.0f} ms",
            p99 <= P99_TARGET_SECONDS,
        ),
        Figure(at + "latency max", f"{max(burst.latencies) * 1000:.1f} ms"),
        Figure(
            at + "receiver CPU per delivery (HTTP, HMAC, storing, applying)",
            "n/a" if cpu is None else f"{cpu / burst.deliveries * 1000:.2f} ms",
        ),
        Figure(
            at + "load generator CPU per delivery",
            f"{burst.generator_cpu / burst.deliveries * 1000:.2f} ms",
        ),
        Figure(
            at + "final state exact (all read, each event once, none pending, opt-outs)",
            "yes" if burst.correct else f"NO: {burst.final}",
            "yes",
            burst.correct,
        ),
    ]


def main() -> None:
    app_secret = secrets.token_hex(16)
    with bench_database() as database:
        engine = create_crm_engine(database.url)
        messages = _seed(engine)
        port = _free_port()
        receiver = _start_receiver(database.url, app_secret, port)
        try:
            bursts = [
                _run_burst(engine, port, receiver.pid, messages, app_secret, concurrency)
                for concurrency in CONCURRENCY
            ]
        finally:
            receiver.terminate()
            receiver.wait(timeout=30)
            engine.dispose()
    figures = [figure for burst in bursts for figure in _figures(burst)]
    first = bursts[0]
    header = (
        f"Each burst: {first.deliveries:,} signed deliveries ({first.distinct:,} distinct"
        f" events: {MESSAGES:,} messages × sent/delivered/read in shuffled order,"
        f" {MESSAGES // OPT_OUT_EVERY} PARAR, {DUPLICATE_SHARE:.0%} delivered twice) posted by a"
        f" second process over {', '.join(str(b.concurrency) for b in bursts)} keep-alive"
        f" connections to `recompra serve webhooks` (one uvicorn process,"
        f" {BATCH_WORKERS} batch workers) on {database.server}, on this shared 2-core machine."
    )
    print(header)
    print(text_table(("Figure", "Value", "Target", "Meets"), figure_rows(figures)))
    RESULTS.write_text(
        "# WhatsApp webhook receiver\n\n"
        + header
        + "\n\n"
        + markdown_table(("Figure", "Value", "Target", "Meets"), figure_rows(figures))
        + "\n"
    )


if __name__ == "__main__":
    main()
