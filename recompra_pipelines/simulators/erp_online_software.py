"""A local Online Software ERP: the real ``listarVendas001`` wire format, realistic data, faults.

Serves ``POST /planodecontas/apirestweb/vends/listvends.php`` exactly as the real ERP does
(docs/erp-wire-formats.md#online-software): a JSON body ``{token, rotina, dtinicio, dtfim}`` with
``DDMMYYYY`` dates, answered by ``{"resultado": [sale, ...]}``. Each token is a store with
deterministic data (see ``online_software_sales``); a clock decides how much of today has happened.
Tests and the demo steer it from Python (``OnlineSoftwareSimulator``) or over HTTP under ``/_sim/``.

The token is a credential: it is never logged and never kept in the request log — entries carry
``token_ref``, a short hash that lets a test tell organizations apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from recompra_pipelines import json_codec
from recompra_pipelines.domain.local_time import DEFAULT_TIMEZONE
from recompra_pipelines.simulators.online_software_sales import (
    MALFORMATIONS,
    REMOVE_FIELD,
    RESPONSE_MODES,
    TokenConfig,
    malformed_ids,
    record_texts,
    resultado_json,
)
from recompra_pipelines.simulators.serving import serve_in_thread

__all__ = [
    "LISTAR_VENDAS_PATH",
    "MALFORMATIONS",
    "REMOVE_FIELD",
    "RESPONSE_MODES",
    "ROTINA",
    "OnlineSoftwareSimulator",
    "TokenConfig",
    "create_app",
    "serve",
    "token_ref",
]

LISTAR_VENDAS_PATH = "/planodecontas/apirestweb/vends/listvends.php"
ROTINA = "listarVendas001"
STORE_TIMEZONE = ZoneInfo(DEFAULT_TIMEZONE)
MAX_WINDOW_DAYS = 366
REQUEST_LOG_LIMIT = 10_000

PHP_FATAL_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Erro</title></head><body>\n<br />\n<b>Fatal error</b>:  "
    "Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in "
    "/var/www/html/planodecontas/apirestweb/vends/listvends.php:42\n</body></html>\n"
)
_SERVER_ERROR_PAGES = {
    500: "<html><head><title>500 Internal Server Error</title></head><body>"
    "<h1>Internal Server Error</h1></body></html>",
    502: "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>",
    503: "<html><head><title>503 Service Unavailable</title></head><body>"
    "<h1>Service Unavailable</h1></body></html>",
    504: "<html><head><title>504 Gateway Timeout</title></head><body>"
    "<h1>Gateway Timeout</h1></body></html>",
}
_JSON = "application/json; charset=utf-8"
_DDMMYYYY = re.compile(r"\d{8}")

log = logging.getLogger(__name__)


def token_ref(token: str) -> str:
    """A short, stable stand-in for a token in logs: enough to tell two apart, not to use one."""
    return "tok_" + hashlib.sha256(token.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class SimResponse:
    status: int
    body: bytes
    content_type: str = _JSON
    headers: dict[str, str] = field(default_factory=dict)
    records: int | None = None
    fault: str | None = None

    def to_starlette(self) -> Response:
        return Response(self.body, self.status, self.headers, media_type=self.content_type)


def _json_error(status: int, message: str, **extra: Any) -> SimResponse:
    body = json.dumps({"erro": message}).encode()
    return SimResponse(status, body, **extra)


class BadRequest(ValueError):
    """The body is not a well-formed ``listarVendas001`` call; the message is what the ERP says."""

    def __init__(self, message: str, token: str | None = None) -> None:
        super().__init__(message)
        self.token = token


@dataclass(frozen=True)
class ListarVendasCall:
    token: str = field(repr=False)
    start: date
    end: date
    dtinicio: str
    dtfim: str


def parse_listar_vendas(raw: bytes) -> ListarVendasCall:
    try:
        body = json.loads(raw or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest("json invalido") from exc
    if not isinstance(body, dict):
        raise BadRequest("json invalido")
    token = body.get("token")
    if not isinstance(token, str):
        raise BadRequest("token nao informado")
    if body.get("rotina") != ROTINA:
        raise BadRequest("rotina invalida", token)
    dtinicio, dtfim = body.get("dtinicio"), body.get("dtfim")
    start, end = _ddmmyyyy(dtinicio, "dtinicio", token), _ddmmyyyy(dtfim, "dtfim", token)
    if end < start:
        raise BadRequest("dtfim anterior a dtinicio", token)
    return ListarVendasCall(token, start, end, str(dtinicio), str(dtfim))


def _ddmmyyyy(value: Any, name: str, token: str) -> date:
    if not isinstance(value, str) or not _DDMMYYYY.fullmatch(value):
        raise BadRequest(f"{name} invalida (formato DDMMYYYY)", token)
    try:
        return datetime.strptime(value, "%d%m%Y").date()
    except ValueError as exc:
        raise BadRequest(f"{name} invalida (formato DDMMYYYY)", token) from exc


class OnlineSoftwareSimulator:
    """State of the simulated ERP: per-token config and faults, the clock, the request log.

    Thread-safe: the HTTP server runs in its own thread while a test reconfigures it.
    """

    def __init__(
        self,
        *,
        accept_any_token: bool = True,
        now: datetime | None = None,
        timezone: ZoneInfo = STORE_TIMEZONE,
    ) -> None:
        self.timezone = timezone
        self._lock = threading.RLock()
        self._tokens: dict[str, TokenConfig] = {}
        self._requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
        self._sequence = 0
        self.accept_any_token = accept_any_token
        self._clock_base: datetime | None = None
        self._clock_started = 0.0
        self._clock_running = False
        self.set_now(now)

    # -- configuration ---------------------------------------------------------------------

    def configure(self, token: str, **changes: Any) -> TokenConfig:
        """Merge ``changes`` into the token's config (registering the token). Returns it."""
        with self._lock:
            cfg = self._tokens.get(token, TokenConfig()).updated(**changes)
            self._tokens[token] = cfg
        log.info("configured %s: %s", token_ref(token), sorted(changes))
        return cfg

    def config_for(self, token: str) -> TokenConfig:
        with self._lock:
            return self._tokens.get(token) or TokenConfig()

    def is_known(self, token: str) -> bool:
        with self._lock:
            return self.accept_any_token or token in self._tokens

    def reset(self) -> None:
        """Forget every token, the request log and any clock override; accept any token."""
        with self._lock:
            self._tokens.clear()
            self._requests.clear()
            self._sequence = 0
            self.accept_any_token = True
            self.set_now(None)

    # -- clock -----------------------------------------------------------------------------

    def set_now(self, now: datetime | None, *, running: bool = False) -> None:
        """Pin the clock at ``now`` (naive means store-local time), or let it run from there
        (``running=True``); ``None`` returns to real time."""
        with self._lock:
            if now is not None and now.tzinfo is None:
                now = now.replace(tzinfo=self.timezone)
            self._clock_base = now
            self._clock_started = time.monotonic()
            self._clock_running = running

    def start_clock_today_at(self, hh_mm: str) -> None:
        """Run the clock from ``HH:MM`` of today (store time): a demo at 6 a.m. still has sales."""
        hour, minute = (int(part) for part in hh_mm.split(":"))
        today = datetime.now(self.timezone).date()
        self.set_now(datetime(today.year, today.month, today.day, hour, minute), running=True)

    def advance(self, **delta: float) -> datetime:
        """Move a pinned clock forward, e.g. ``advance(hours=2)``."""
        with self._lock:
            self.set_now(self.now() + timedelta(**delta), running=self._clock_running)
            return self.now()

    def now(self) -> datetime:
        """The simulated time, aware, in the store's timezone."""
        with self._lock:
            if self._clock_base is None:
                return datetime.now(self.timezone)
            elapsed = time.monotonic() - self._clock_started if self._clock_running else 0.0
            return (self._clock_base + timedelta(seconds=elapsed)).astimezone(self.timezone)

    def _local_now(self) -> datetime:
        return self.now().replace(tzinfo=None)

    # -- data, for assertions ----------------------------------------------------------------

    def sales_for(self, token: str, day: date | str) -> list[dict[str, Any]]:
        """The exact ``resultado`` records a request for ``day`` would get now (any
        ``response_mode``/``non_list_resultado`` aside): clock cut, cancellations, overrides,
        malformations and injected sales included."""
        day = date.fromisoformat(day) if isinstance(day, str) else day
        return json_codec.loads(
            resultado_json(token, self.config_for(token), day, day, self._local_now())
        )

    def malformed_ids_for(self, token: str, day: date | str) -> dict[str, str]:
        """Sale id -> malformation (one of ``MALFORMATIONS``) in the response for ``day``."""
        day = date.fromisoformat(day) if isinstance(day, str) else day
        return malformed_ids(token, self.config_for(token), day, day, self._local_now())

    # -- request log -----------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every ``listvends`` request received, oldest first; tokens redacted."""
        with self._lock:
            return [dict(entry) for entry in self._requests]

    def requests_for(self, token: str) -> list[dict[str, Any]]:
        ref = token_ref(token)
        return [entry for entry in self.requests if entry["token_ref"] == ref]

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._sequence += 1
            self._requests.append({"seq": self._sequence, **entry})

    # -- serving ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def run_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve over HTTP from a background thread; yields the base URL. Port 0 picks a free
        port. The server is stopped and the thread joined on exit."""
        with serve_in_thread(
            create_app(self), name="Online Software simulator", host=host, port=port
        ) as url:
            yield url

    # -- the endpoint ------------------------------------------------------------------------

    async def handle_listar_vendas(self, raw: bytes) -> SimResponse:
        """Answer one ``listvends`` POST body the way the ERP would, faults included."""
        received_at = datetime.now(self.timezone).isoformat()
        call: ListarVendasCall | None = None
        token: str | None = None
        try:
            call = parse_listar_vendas(raw)
            token = call.token
            response = await self._answer(call)
        except BadRequest as exc:
            token = exc.token
            response = _json_error(400, str(exc))
        entry = {
            "received_at": received_at,
            "sim_now": self.now().isoformat(),
            "method": "POST",
            "path": LISTAR_VENDAS_PATH,
            "token": "***" if token is not None else None,
            "token_ref": token_ref(token) if token is not None else None,
            "rotina": ROTINA if call else None,
            "dtinicio": call.dtinicio if call else None,
            "dtfim": call.dtfim if call else None,
            "status": response.status,
            "records": response.records,
            "fault": response.fault,
        }
        self._record(entry)
        log.info(
            "listvends %s %s..%s -> %s records=%s fault=%s",
            entry["token_ref"],
            entry["dtinicio"],
            entry["dtfim"],
            response.status,
            response.records,
            response.fault,
        )
        return response

    async def _answer(self, call: ListarVendasCall) -> SimResponse:
        if not self.is_known(call.token):
            return _json_error(401, "token invalido")
        cfg = self.config_for(call.token)
        if cfg.latency_seconds > 0:
            await asyncio.sleep(cfg.latency_seconds)
        failure = self._take_failure(call.token)
        if failure is not None:
            return _failure_response(failure, cfg)
        window = (call.end - call.start).days + 1
        if window > (cfg.max_window_days or MAX_WINDOW_DAYS):
            return _json_error(400, "periodo muito longo")
        return await run_in_threadpool(self._listing, call, cfg)

    def _take_failure(self, token: str) -> int | None:
        with self._lock:
            cfg = self._tokens.get(token)
            if cfg is None or not cfg.fail_next:
                return None
            status, *rest = cfg.fail_next
            self._tokens[token] = dataclasses.replace(cfg, fail_next=rest)
            return status

    def _listing(self, call: ListarVendasCall, cfg: TokenConfig) -> SimResponse:
        mode = cfg.response_mode
        if mode == "html_error":
            return SimResponse(
                200, PHP_FATAL_ERROR_PAGE.encode(), "text/html; charset=UTF-8", fault="html_error"
            )
        if mode == "null_resultado":
            return SimResponse(200, b'{"resultado":null}', fault=mode)
        if mode == "missing_resultado":
            return SimResponse(200, b'{"mensagem":"Falha ao consultar vendas"}', fault=mode)
        if cfg.non_list_resultado is not None:
            body = json.dumps({"resultado": cfg.non_list_resultado}).encode()
            return SimResponse(200, body, fault="non_list_resultado")
        records = record_texts(call.token, cfg, call.start, call.end, self._local_now())
        if not records and cfg.empty_day_message is not None:
            body = json.dumps({"resultado": cfg.empty_day_message}).encode()
            return SimResponse(200, body, records=0, fault="empty_day_message")
        fault = f"malformed_records:{cfg.malformed_records}" if cfg.malformed_records else None
        body = ('{"resultado":[' + ",".join(records) + "]}").encode("utf-8", "surrogateescape")
        return SimResponse(200, body, records=len(records), fault=fault)


def _failure_response(status: int, cfg: TokenConfig) -> SimResponse:
    fault = f"fail_next:{status}"
    if status == 429:
        retry_after = str(max(0, math.ceil(cfg.retry_after_seconds)))
        return _json_error(
            429, "limite de requisicoes excedido", headers={"Retry-After": retry_after}, fault=fault
        )
    page = _SERVER_ERROR_PAGES.get(status)
    if page is not None:
        return SimResponse(status, page.encode(), "text/html; charset=UTF-8", fault=fault)
    return _json_error(status, f"erro simulado {status}", fault=fault)


# -- HTTP app --------------------------------------------------------------------------------


def create_app(simulator: OnlineSoftwareSimulator) -> Starlette:
    """The ERP endpoint plus the ``/_sim/`` control surface."""

    async def listar_vendas(request: Request) -> Response:
        response = await simulator.handle_listar_vendas(await request.body())
        return response.to_starlette()

    async def token_config(request: Request) -> Response:
        token = request.path_params.get("token")
        if request.method == "GET":
            cfg = simulator.config_for(token)
            return JSONResponse({"known": simulator.is_known(token), "config": cfg.as_dict()})
        changes = await _json_object(request)
        if isinstance(changes, Response):
            return changes
        if token is None:  # the token in the body keeps it out of URLs and client logs
            token = changes.pop("token", None)
            if not isinstance(token, str):
                return JSONResponse({"erro": "token nao informado"}, 400)
        try:
            cfg = simulator.configure(token, **changes)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"erro": str(exc)}, 400)
        return JSONResponse({"config": cfg.as_dict()})

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            body = await _json_object(request)
            if isinstance(body, Response):
                return body
            try:
                now = body.get("now")
                parsed = datetime.fromisoformat(now) if now is not None else None
                simulator.set_now(parsed, running=bool(body.get("running", False)))
                if body.get("advance_seconds"):
                    simulator.advance(seconds=float(body["advance_seconds"]))
            except (TypeError, ValueError) as exc:
                return JSONResponse({"erro": f"invalid clock: {exc}"}, 400)
        return JSONResponse({"now": simulator.now().isoformat()})

    async def settings(request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        if "accept_any_token" in body:
            simulator.accept_any_token = bool(body["accept_any_token"])
        return JSONResponse({"accept_any_token": simulator.accept_any_token})

    async def reset(request: Request) -> Response:
        simulator.reset()
        return JSONResponse({"ok": True})

    async def requests(request: Request) -> Response:
        return JSONResponse(simulator.requests)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "now": simulator.now().isoformat()})

    return Starlette(
        routes=[
            Route(LISTAR_VENDAS_PATH, listar_vendas, methods=["POST"]),
            Route("/_sim/tokens", token_config, methods=["POST"]),
            Route("/_sim/tokens/{token:path}", token_config, methods=["GET", "POST"]),
            Route("/_sim/clock", clock, methods=["GET", "POST"]),
            Route("/_sim/settings", settings, methods=["POST"]),
            Route("/_sim/reset", reset, methods=["POST"]),
            Route("/_sim/requests", requests, methods=["GET"]),
            Route("/_sim/health", health, methods=["GET"]),
        ]
    )


async def _json_object(request: Request) -> dict[str, Any] | Response:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return JSONResponse({"erro": "json invalido"}, 400)
    if not isinstance(body, dict):
        return JSONResponse({"erro": "expected a JSON object"}, 400)
    return body


# -- running it ------------------------------------------------------------------------------


def serve(
    port: int, host: str = "127.0.0.1", simulator: OnlineSoftwareSimulator | None = None
) -> None:
    """Run the simulator in the foreground (``recompra simulate erp --port N``)."""
    simulator = simulator or OnlineSoftwareSimulator()
    log.info("Online Software simulator on http://%s:%s%s", host, port, LISTAR_VENDAS_PATH)
    uvicorn.run(create_app(simulator), host=host, port=port, access_log=False, log_level="info")
