"""The WhatsApp webhook receiver: ``recompra serve webhooks --port N`` (Starlette + uvicorn).

Meta calls it the way its Cloud API documents:

- ``GET /webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`` once, when
  the callback URL is registered: the challenge is echoed back if the token is ours
  (``WHATSAPP_WEBHOOK_VERIFY_TOKEN``), else 403.
- ``POST /webhooks/whatsapp`` for every batch of statuses and customer messages, signed with
  ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed by the app secret>``
  (``WHATSAPP_APP_SECRET``). A missing or wrong signature is answered 401 before the body is
  parsed, and nothing is stored. A verified body is stored as received with its
  events and applied (messaging.webhook_store); Meta gets 200 once that is committed, 500 when
  applying failed (the body and its events are stored anyway; Meta retries and the retry
  applies what is pending), 503 when the database is unreachable (nothing stored).
- ``GET /healthz``: 200 when the database answers, else 503 (the readiness probe).

Bodies above Meta's 3 MB payload limit are refused with 413 while being read. Nothing about
a customer — phones, names, texts — and no secret reaches the log: uvicorn's access log is
off (the verification URL carries the verify token), and our own lines hold counts only.
Deliveries are stored in batches (messaging.webhook_store): a few workers each take whatever
has arrived and store it in one transaction, in a worker thread, so a burst costs a commit per
batch rather than per delivery and the event loop keeps accepting deliveries meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from recompra_pipelines.db.engine import create_crm_engine, resolve_database_url
from recompra_pipelines.messaging.webhook_store import WebhookOutcome, store_and_apply

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp"
HEALTH_PATH = "/healthz"
APP_SECRET_ENV = "WHATSAPP_APP_SECRET"
VERIFY_TOKEN_ENV = "WHATSAPP_WEBHOOK_VERIFY_TOKEN"
SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
# Meta's webhook payloads are at most 3 MB.
MAX_BODY_BYTES = 3 * 1024 * 1024
# Batches stored at the same time, each on its own connection; deliveries that arrive while
# they run wait together for the next batch.
BATCH_WORKERS = 3
MAX_BATCH = 64


class ReceiverConfigError(ValueError):
    """A setting the receiver cannot start without."""


@dataclass(frozen=True)
class ReceiverSettings:
    app_secret: str = field(repr=False)
    verify_token: str = field(repr=False)
    database_url: str = field(repr=False)
    max_body_bytes: int = MAX_BODY_BYTES
    batch_workers: int = BATCH_WORKERS
    max_batch: int = MAX_BATCH

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ReceiverSettings:
        """Secrets from ``WHATSAPP_APP_SECRET`` and ``WHATSAPP_WEBHOOK_VERIFY_TOKEN``, the
        database from ``RECOMPRA_DATABASE_URL`` (else the embedded server, for local use)."""
        missing = [name for name in (APP_SECRET_ENV, VERIFY_TOKEN_ENV) if not environ.get(name)]
        if missing:
            raise ReceiverConfigError(
                f"set {' and '.join(missing)}: the webhook receiver verifies Meta's signature"
                " and its subscription with them"
            )
        return cls(
            app_secret=environ[APP_SECRET_ENV],
            verify_token=environ[VERIFY_TOKEN_ENV],
            database_url=resolve_database_url(),
        )


def signature_for(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends with ``body``."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signature_is_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time comparison against the expected signature."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(signature_for(app_secret, body), header.strip().lower())


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class _Batcher:
    """Hands deliveries to messaging.webhook_store in batches: each worker takes whatever has
    arrived (up to ``max_batch``) and stores and applies it in one transaction, so a burst
    costs a commit per batch, not per delivery, and a lone delivery is not kept waiting."""

    def __init__(self, engine: sa.Engine, workers: int, max_batch: int) -> None:
        self._engine = engine
        self._workers = workers
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[bytes, asyncio.Future]] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    async def submit(self, body: bytes) -> WebhookOutcome:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((body, future))
        return await future

    async def _work(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                outcomes = await run_in_threadpool(
                    store_and_apply, self._engine, [body for body, _ in batch]
                )
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)


def create_app(settings: ReceiverSettings, engine: sa.Engine | None = None) -> Starlette:
    """The receiver's ASGI app; ``engine`` defaults to one on ``settings.database_url``."""
    engine = engine or create_crm_engine(
        settings.database_url,
        # One connection per batch worker, one for the health probe.
        pool_size=settings.batch_workers + 1,
        max_overflow=0,
        # A connection the database dropped fails one delivery (503, Meta retries) and the
        # pool is refreshed; pinging before every checkout would cost each delivery a round
        # trip. Parameters hold phones and texts: never in an error message.
        pool_pre_ping=False,
        hide_parameters=True,
    )
    batcher = _Batcher(engine, settings.batch_workers, settings.max_batch)

    async def verify(request: Request) -> Response:
        params = request.query_params
        token = params.get("hub.verify_token") or ""
        if params.get("hub.mode") == "subscribe" and hmac.compare_digest(
            token.encode(), settings.verify_token.encode()
        ):
            log.info("webhook subscription verified")
            return PlainTextResponse(params.get("hub.challenge", ""))
        log.warning("webhook verification refused (wrong mode or verify token)")
        return PlainTextResponse("forbidden", status_code=403)

    async def receive(request: Request) -> Response:
        try:
            body = await _read_body(request, settings.max_body_bytes)
        except _TooLarge:
            log.warning("webhook refused: body above %d bytes", settings.max_body_bytes)
            return JSONResponse({"error": "body too large"}, status_code=413)
        if not signature_is_valid(settings.app_secret, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("webhook refused: missing or invalid %s", SIGNATURE_HEADER)
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            outcome = await batcher.submit(body)
        except sa.exc.OperationalError as error:
            log.error("webhook not stored: database unavailable (%s)", type(error).__name__)
            return JSONResponse({"error": "database unavailable"}, status_code=503)
        except Exception as error:  # only its class: a message may quote the payload
            log.error("webhook not stored: %s", type(error).__name__)
            return JSONResponse({"error": "not stored"}, status_code=500)
        if outcome.failure is not None:
            log.error(
                "webhook stored, applying failed (%s); Meta will deliver it again",
                outcome.failure,
            )
            return JSONResponse({"error": "stored, not applied"}, status_code=500)
        if outcome.problems:
            log.warning(
                "webhook: %d part(s) unreadable, e.g. %s",
                len(outcome.problems),
                outcome.problems[0],
            )
        log.info(
            "webhook: %d event(s), %d new, %d applied, %d pending",
            outcome.events,
            outcome.new_events,
            outcome.applied,
            outcome.pending,
        )
        return JSONResponse(
            {"events": outcome.events, "applied": outcome.applied, "pending": outcome.pending}
        )

    async def healthz(request: Request) -> Response:
        try:
            await run_in_threadpool(_ping, engine)
        except sa.exc.SQLAlchemyError as error:
            return JSONResponse(
                {"status": "database unavailable", "error": type(error).__name__},
                status_code=503,
            )
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, verify, methods=["GET"]),
            Route(WEBHOOK_PATH, receive, methods=["POST"]),
            Route(HEALTH_PATH, healthz, methods=["GET"]),
        ],
        lifespan=_disposing(engine),
    )


def _disposing(engine: sa.Engine):
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        engine.dispose()

    return lifespan


def _ping(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def serve(port: int, host: str = "127.0.0.1", settings: ReceiverSettings | None = None) -> None:
    """Run in the foreground until stopped (``recompra serve webhooks``)."""
    settings = settings or ReceiverSettings.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    log.info("WhatsApp webhook receiver on http://%s:%s%s", host, port, WEBHOOK_PATH)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        access_log=False,
        log_level="info",
        timeout_graceful_shutdown=10,
    )
