"""A local WhatsApp Cloud API: ``POST /{version}/{phone-number-id}/messages`` on loopback.

It checks what Meta checks and answers with Meta's error codes
(docs/whatsapp.md#errors-what-is-retried), so a payload that passes here has the shape Meta expects:
Bearer token (190), known number (100), template name and language (132001), allowed components only
— header, body, button (100), body parameter count (132000), header media type (132012), parameter
text without newlines, tabs or runs of 4+ spaces and not empty (131009), a plausible ``to`` (100)
that is on WhatsApp (131026), throughput per number (130429) and per recipient (131056). Faults are
injected on demand (an error code, a 5xx, a slow answer, a timeout after the message was
accepted). Every request and every accepted message is recorded for tests.

With a webhook receiver configured (``configure_webhooks``) it also plays Meta's side of the
conversation: each accepted message is followed by signed ``sent`` → ``delivered`` → ``read``
status webhooks (carrying the send's ``biz_opaque_callback_data``), a number marked
undeliverable ``by_webhook`` gets a ``failed`` status with 131026 as Meta usually reports it,
customers' replies are posted on request (``reply``, ``POST /_sim/replies``), and optionally
every n-th recipient answers PARAR after reading. Webhooks go out from a background thread
when due, or all at once when a test calls ``deliver_webhooks``.

``recompra simulate whatsapp --port N`` serves it with the templates of the demo org files;
tests import ``WhatsAppSimulator`` and run it in a thread with a shared fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from recompra_pipelines.credentials import from_env
from recompra_pipelines.domain.whatsapp_dispatch import ConnectionType
from recompra_pipelines.simulators import whatsapp_webhooks as hooks
from recompra_pipelines.simulators.serving import serve_in_thread

log = logging.getLogger(__name__)

_BAD_TEXT = re.compile(r"[\n\t]| {5,}")
_TO = re.compile(r"^[1-9][0-9]{7,14}$")
_TEMPLATE_KEYS = {"name", "language", "components", "namespace"}
_TOP_KEYS = {
    "messaging_product",
    "recipient_type",
    "to",
    "type",
    "template",
    "biz_opaque_callback_data",
}
_MESSAGES = {
    100: "(#100) Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    130429: "(#130429) Rate limit hit",
    131009: "(#131009) Parameter value is not valid",
    131026: "(#131026) Message undeliverable",
    131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
    132000: "(#132000) Number of parameters does not match the expected number of params",
    132001: "(#132001) Template name does not exist in the translation",
    132012: "(#132012) Parameter format does not match format in the created template",
}


@dataclass(frozen=True)
class SimTemplate:
    name: str
    language: str
    parameter_format: str = "POSITIONAL"
    # Positional: the count matters; named: the names.
    parameter_names: tuple[str | None, ...] = ()
    header_type: str | None = None  # IMAGE | VIDEO | DOCUMENT


@dataclass(frozen=True)
class Fault:
    """One injected answer: ``error`` (a Graph error code), ``http`` (a bare status, e.g. 503),
    ``slow`` (answer normally after ``seconds``) or ``timeout`` (accept the message, then
    answer only after ``seconds`` — longer than the client waits)."""

    kind: str
    code: int | None = None
    status: int | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class StatusTimeline:
    """Seconds after a message is accepted at which its statuses are reported."""

    sent: float = 0.0
    delivered: float = 1.0
    read: float = 4.0
    # A recipient who opts out answers this long after reading.
    reply: float = 2.0


OPT_OUT_REPLY = "PARAR"
UNDELIVERABLE_TITLE = "Message undeliverable"


@dataclass
class _Webhooks:
    sender: hooks.WebhookSender
    timeline: StatusTimeline
    opt_out_every: int | None
    queue: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


@dataclass
class _Number:
    token: str
    sent_at: deque = field(default_factory=deque)


class GraphError(Exception):
    def __init__(self, code: int, details: str = "", status: int = 400) -> None:
        super().__init__(details)
        self.code, self.details, self.status = code, details, status


class WhatsAppSimulator:
    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        messages_per_second: int = 80,
        recipient_interval: timedelta = timedelta(seconds=6),
        accept_any_token: bool = False,
    ) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.messages_per_second = messages_per_second
        self.recipient_interval = recipient_interval
        # Demo convenience: any Bearer token for an unknown number registers it.
        self.accept_any_token = accept_any_token
        self._lock = threading.Lock()
        self._numbers: dict[str, _Number] = {}
        self._templates: dict[tuple[str, str], SimTemplate] = {}
        # Undeliverable numbers: True when the 131026 comes as a failed status webhook.
        self._undeliverable: dict[str, bool] = {}
        self._webhooks: _Webhooks | None = None
        self._sequence = 0
        self._faults: deque[Fault] = deque()
        self._last_to: dict[tuple[str, str], datetime] = {}
        self.messages: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []

    # -- configuration ----------------------------------------------------------------------

    def register_number(self, phone_number_id: str, token: str) -> None:
        with self._lock:
            self._numbers[phone_number_id] = _Number(token)

    def register_template(self, template: SimTemplate) -> None:
        with self._lock:
            self._templates[(template.name, template.language)] = template

    def register_org_file(self, org_file: Any) -> None:
        """The number and templates of an ``OrgFile``'s ``whatsapp`` section."""
        whatsapp = org_file.whatsapp
        if whatsapp is None or whatsapp.connection.connection_type is not ConnectionType.CLOUD_API:
            return
        connection = whatsapp.connection
        token = (
            connection.token.get_secret_value()
            if connection.token is not None
            else from_env(connection.token_env, what="whatsapp.connection.token_env")
        )
        self.register_number(connection.phone_number_id, token)
        for t in whatsapp.templates:
            self.register_template(
                SimTemplate(
                    name=t.name,
                    language=t.language,
                    parameter_format=t.parameter_format.upper(),
                    parameter_names=tuple(p.name for p in t.parameters),
                    header_type=None if t.header_type == "none" else t.header_type.upper(),
                )
            )

    def mark_undeliverable(self, *numbers: str, by_webhook: bool = False) -> None:
        """These numbers are not on WhatsApp: the send is refused with 131026, or (as Meta
        mostly does) accepted and then reported ``failed`` with 131026 by webhook."""
        with self._lock:
            self._undeliverable.update(dict.fromkeys(numbers, by_webhook))

    def configure_webhooks(
        self,
        sender: hooks.WebhookSender,
        *,
        timeline: StatusTimeline = StatusTimeline(),
        opt_out_every: int | None = None,
        background: bool = True,
    ) -> None:
        """Post status webhooks (and replies) to ``sender``'s receiver from now on; in the
        background when due, else only when ``deliver_webhooks`` is called."""
        self.stop_webhooks()
        webhooks = _Webhooks(sender, timeline, opt_out_every)
        if background:
            webhooks.thread = threading.Thread(
                target=self._post_due_webhooks, args=(webhooks,), name="webhooks", daemon=True
            )
            webhooks.thread.start()
        self._webhooks = webhooks

    def stop_webhooks(self) -> None:
        webhooks, self._webhooks = self._webhooks, None
        if webhooks is not None and webhooks.thread is not None:
            webhooks.stop.set()
            webhooks.thread.join(timeout=10)

    def reply(self, phone_number_id: str, wa_id: str, text: str, *, after: float = 0.0) -> str:
        """A customer (``wa_id``) writes ``text`` to the business number; returns its wamid."""
        wamid = hooks.new_wamid()
        at = self.clock() + timedelta(seconds=after)
        with self._lock:
            self._enqueue(
                after,
                hooks.webhook(
                    phone_number_id, messages=[hooks.text_message(wa_id, text, at, wamid=wamid)]
                ),
            )
        return wamid

    def deliver_webhooks(self) -> int:
        """Post every queued webhook now, in the order they were due; returns how many."""
        with self._lock:
            if self._webhooks is None:
                return 0
            queued = sorted(self._webhooks.queue)
            self._webhooks.queue.clear()
            sender = self._webhooks.sender
        for _, _, payload in queued:
            sender.post(payload)
        return len(queued)

    def pending_webhooks(self) -> int:
        with self._lock:
            return len(self._webhooks.queue) if self._webhooks else 0

    def _enqueue(self, delay: float, payload: dict[str, Any]) -> None:
        assert self._webhooks is not None
        self._sequence += 1
        self._webhooks.queue.append((time.monotonic() + delay, self._sequence, payload))

    def _post_due_webhooks(self, webhooks: _Webhooks) -> None:
        while not webhooks.stop.wait(0.2):
            with self._lock:
                now = time.monotonic()
                due = sorted(item for item in webhooks.queue if item[0] <= now)
                webhooks.queue[:] = [item for item in webhooks.queue if item[0] > now]
            for _, _, payload in due:
                webhooks.sender.post(payload)

    def _report(self, phone_number_id: str, payload: dict[str, Any], wamid: str, at) -> None:
        """Queue what Meta would post about an accepted message (called under the lock)."""
        webhooks = self._webhooks
        if webhooks is None:
            return
        to, timeline = payload["to"], webhooks.timeline
        callback = payload.get("biz_opaque_callback_data")

        def post(state: str, delay: float, error: tuple[int, str] | None = None) -> None:
            moment = at + timedelta(seconds=delay)
            entry = hooks.status(wamid, state, moment, to, callback=callback, error=error)
            self._enqueue(delay, hooks.webhook(phone_number_id, statuses=[entry]))

        if self._undeliverable.get(to):
            post("failed", timeline.sent, (131026, UNDELIVERABLE_TITLE))
            return
        post("sent", timeline.sent)
        post("delivered", timeline.delivered)
        post("read", timeline.read)
        if to not in webhooks.recipients:
            webhooks.recipients.append(to)
            every = webhooks.opt_out_every
            if every and len(webhooks.recipients) % every == 0:
                delay = timeline.read + timeline.reply
                moment = at + timedelta(seconds=delay)
                message = hooks.text_message(to, OPT_OUT_REPLY, moment)
                self._enqueue(delay, hooks.webhook(phone_number_id, messages=[message]))

    def inject(self, *faults: Fault) -> None:
        """Answer the next requests with these faults, in order, then normally again."""
        with self._lock:
            self._faults.extend(faults)

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._last_to.clear()
            self.messages.clear()
            self.requests.clear()
            for number in self._numbers.values():
                number.sent_at.clear()
            if self._webhooks is not None:
                self._webhooks.queue.clear()
                self._webhooks.recipients.clear()

    # -- observations -----------------------------------------------------------------------

    def error_codes(self) -> Counter:
        with self._lock:
            return Counter(r["code"] for r in self.requests if r["code"] is not None)

    def messages_to(self, to: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if m["to"] == to]

    # -- the endpoint -----------------------------------------------------------------------

    async def handle(self, phone_number_id: str, authorization: str | None, raw: bytes):
        """Returns (HTTP status, JSON body, delay before answering)."""
        fault = None
        try:
            with self._lock:
                self._authorize(phone_number_id, authorization)
                fault = self._faults.popleft() if self._faults else None
                if fault and fault.kind == "error":
                    raise GraphError(fault.code, "injected", _status_for(fault.code))
                if fault and fault.kind == "http":
                    self._log(phone_number_id, None, fault.status, None)
                    return fault.status, {"error": {"message": "Service unavailable"}}, 0.0
                payload = _json(raw)
                template = self._validate(payload)
                to = payload["to"]
                now = self.clock()
                self._check_limits(phone_number_id, to, now)
                wamid = "wamid." + secrets.token_urlsafe(24)
                self._numbers[phone_number_id].sent_at.append(now)
                self._last_to[(phone_number_id, to)] = now
                self._report(phone_number_id, payload, wamid, now)
                self.messages.append(
                    {
                        "phone_number_id": phone_number_id,
                        "to": to,
                        "payload": payload,
                        "template": template.name,
                        "wamid": wamid,
                        "at": now,
                    }
                )
                self._log(phone_number_id, to, 200, None)
            body = {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": wamid, "message_status": "accepted"}],
            }
            delay = fault.seconds if fault and fault.kind in ("slow", "timeout") else 0.0
            return 200, body, delay
        except GraphError as error:
            with self._lock:
                self._log(phone_number_id, None, error.status, error.code)
            return error.status, _error_body(error), 0.0

    def _log(self, phone_number_id: str, to: str | None, status: int, code: int | None) -> None:
        self.requests.append(
            {"phone_number_id": phone_number_id, "to": to, "status": status, "code": code}
        )

    def _authorize(self, phone_number_id: str, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "Bearer" or not token:
            raise GraphError(190, "missing access token", 401)
        number = self._numbers.get(phone_number_id)
        if number is None and self.accept_any_token:
            number = self._numbers[phone_number_id] = _Number(token)
        if number is None:
            raise GraphError(100, f"Object with ID '{phone_number_id}' does not exist", 400)
        if not secrets.compare_digest(number.token, token):
            raise GraphError(190, "token not valid for this phone number", 401)

    def _validate(self, payload: Any) -> SimTemplate:
        if not isinstance(payload, dict) or payload.get("messaging_product") != "whatsapp":
            raise GraphError(100, "messaging_product must be whatsapp")
        unknown = set(payload) - _TOP_KEYS
        if unknown:
            raise GraphError(100, f"unknown field(s) {sorted(unknown)}")
        if payload.get("recipient_type", "individual") != "individual":
            raise GraphError(100, "recipient_type must be individual")
        if payload.get("type") != "template":
            raise GraphError(100, "only template messages are simulated")
        to = payload.get("to")
        if not isinstance(to, str) or not _TO.match(to):
            raise GraphError(100, "to must be a phone number in international format, digits")
        callback = payload.get("biz_opaque_callback_data")
        if callback is not None and (not isinstance(callback, str) or len(callback) > 512):
            raise GraphError(100, "biz_opaque_callback_data must be a string of ≤ 512 chars")
        spec = payload.get("template")
        if not isinstance(spec, dict) or set(spec) - _TEMPLATE_KEYS:
            raise GraphError(100, "template has unknown fields")
        language = spec.get("language")
        code = language.get("code") if isinstance(language, dict) else None
        template = self._templates.get((spec.get("name"), code))
        if template is None and self.accept_any_token and not self._templates:
            # Nothing registered (bare `simulate whatsapp`): accept any template as sent.
            return SimTemplate(str(spec.get("name")), str(code))
        if template is None:
            raise GraphError(
                132001, f"template name ({spec.get('name')}) does not exist in {code}", 404
            )
        components = spec.get("components") or []
        if not isinstance(components, list):
            raise GraphError(100, "components must be a list")
        by_type: dict[str, dict] = {}
        for component in components:
            kind = component.get("type") if isinstance(component, dict) else None
            if kind not in ("header", "body", "button"):
                raise GraphError(100, f"Invalid parameter: component type {kind!r}")
            by_type[kind] = component
        self._check_header(template, by_type.get("header"))
        self._check_body(template, by_type.get("body"))
        if self._undeliverable.get(to) is False or (
            to in self._undeliverable and self._webhooks is None
        ):
            raise GraphError(131026, "recipient is not a WhatsApp user")
        return template

    @staticmethod
    def _check_header(template: SimTemplate, header: dict | None) -> None:
        if template.header_type is None:
            if header is not None:
                raise GraphError(132012, "header: the template has no media header")
            return
        media = template.header_type.lower()
        parameters = (header or {}).get("parameters") or []
        if (
            len(parameters) != 1
            or parameters[0].get("type") != media
            or not (parameters[0].get(media) or {}).get("link")
        ):
            raise GraphError(132012, f"header: expected one {template.header_type} with a link")

    @staticmethod
    def _check_body(template: SimTemplate, body: dict | None) -> None:
        parameters = (body or {}).get("parameters") or []
        expected = len(template.parameter_names)
        if len(parameters) != expected:
            raise GraphError(
                132000,
                f"body: number of localizable_params ({len(parameters)}) does not match the"
                f" expected number of params ({expected})",
            )
        named = template.parameter_format == "NAMED"
        for parameter in parameters:
            if parameter.get("type") != "text" or not isinstance(parameter.get("text"), str):
                raise GraphError(100, "body parameters must be of type text")
            if ("parameter_name" in parameter) != named:
                raise GraphError(100, "parameter_name is required exactly for named templates")
            text = parameter["text"]
            if not text.strip() or _BAD_TEXT.search(text):
                raise GraphError(
                    131009,
                    "Param text cannot be empty or have new-line/tab"
                    " characters or more than 4 consecutive spaces",
                )
        if named and {p["parameter_name"] for p in parameters} != set(template.parameter_names):
            raise GraphError(132000, "body: parameter names do not match the template")

    def _check_limits(self, phone_number_id: str, to: str, now: datetime) -> None:
        sent = self._numbers[phone_number_id].sent_at
        while sent and sent[0] <= now - timedelta(seconds=1):
            sent.popleft()
        if len(sent) >= self.messages_per_second:
            raise GraphError(130429, "Cloud API message throughput has been reached", 429)
        last = self._last_to.get((phone_number_id, to))
        if last is not None and now - last < self.recipient_interval:
            raise GraphError(131056, "too many messages to this recipient", 429)

    # -- serving ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def run_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve from a background thread; yields the base URL (the WHATSAPP_GRAPH_URL)."""
        try:
            with serve_in_thread(
                create_app(self), name="WhatsApp simulator", host=host, port=port
            ) as url:
                yield url
        finally:
            self.stop_webhooks()


def _status_for(code: int | None) -> int:
    return {190: 401, 130429: 429, 131056: 429, 132001: 404}.get(code, 400)


def _json(raw: bytes) -> Any:
    import json

    try:
        return json.loads(raw)
    except ValueError:
        raise GraphError(100, "the body is not JSON") from None


def _error_body(error: GraphError) -> dict[str, Any]:
    return {
        "error": {
            "message": _MESSAGES.get(error.code, f"(#{error.code})"),
            "type": "OAuthException",
            "code": error.code,
            "error_data": {"messaging_product": "whatsapp", "details": error.details},
            "fbtrace_id": secrets.token_urlsafe(12),
        }
    }


def create_app(simulator: WhatsAppSimulator) -> Starlette:
    async def messages(request: Request) -> Response:
        status, body, delay = await simulator.handle(
            request.path_params["phone_number_id"],
            request.headers.get("authorization"),
            await request.body(),
        )
        if delay:
            await asyncio.sleep(delay)
        return JSONResponse(body, status)

    async def recorded(request: Request) -> Response:
        with simulator._lock:
            listing = [{**m, "at": m["at"].isoformat()} for m in simulator.messages]
        return JSONResponse({"messages": listing})

    async def replies(request: Request) -> Response:
        """A customer's reply, posted to the webhook receiver: ``{"phone_number_id": …,
        "from": "<wa_id>", "text": …}``."""
        body = await request.json()
        if simulator._webhooks is None:
            return JSONResponse({"error": "no webhook receiver configured"}, 409)
        try:
            wamid = simulator.reply(body["phone_number_id"], body["from"], body["text"])
        except (KeyError, TypeError):
            return JSONResponse({"error": "give phone_number_id, from and text"}, 400)
        return JSONResponse({"id": wamid})

    return Starlette(
        routes=[
            Route("/{version}/{phone_number_id}/messages", messages, methods=["POST"]),
            Route("/_sim/messages", recorded, methods=["GET"]),
            Route("/_sim/replies", replies, methods=["POST"]),
        ]
    )


def simulator_for_org_files(paths: Iterable[Path], **kwargs: Any) -> WhatsAppSimulator:
    """A simulator that knows the numbers and templates of these org files (the demo's)."""
    from recompra_pipelines.orgfile.organization import load_org_file

    simulator = WhatsAppSimulator(**kwargs)
    for path in paths:
        simulator.register_org_file(load_org_file(path))
    return simulator


def serve(port: int, host: str = "127.0.0.1", simulator: WhatsAppSimulator | None = None) -> None:
    """Run in the foreground (``recompra simulate whatsapp --port N``)."""
    simulator = simulator or WhatsAppSimulator(accept_any_token=True)
    log.info("WhatsApp Cloud API simulator on http://%s:%s", host, port)
    uvicorn.run(create_app(simulator), host=host, port=port, access_log=False, log_level="info")
