"""Meta's ``messages`` webhook, read into events: statuses of our messages, and messages
customers sent us.

Shape (WhatsApp Cloud API, field ``messages``)::

    {"object": "whatsapp_business_account",
     "entry": [{"id": "<WABA id>", "changes": [{"field": "messages", "value": {
         "messaging_product": "whatsapp",
         "metadata": {"display_phone_number": "…", "phone_number_id": "<number id>"},
         "statuses": [{"id": "wamid…", "status": "sent|delivered|read|failed",
                       "timestamp": "1750857384", "recipient_id": "5534999998888",
                       "biz_opaque_callback_data": "<our interaction id>",
                       "errors": [{"code": 131026, "title": "Message undeliverable"}]}],
         "contacts": [{"profile": {"name": "…"}, "wa_id": "5534999998888"}],
         "messages": [{"from": "5534999998888", "id": "wamid…", "timestamp": "…",
                       "type": "text", "text": {"body": "PARAR"}}]}}]}]}

Each status and each message becomes one event with a key that is the same however often
Meta delivers it (``status:<wamid>:<status>``, ``mensagem:<wamid>``): Meta delivers at least
once and retries for days. A malformed entry is reported by its path and field and skipped;
the rest of the body is still read (and the body itself is always stored).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from recompra_pipelines.domain.whatsapp_delivery import (
    WebhookEventKind,
    interaction_from_callback,
)

OBJECT = "whatsapp_business_account"
FIELD = "messages"
# Where a customer's message keeps its text, by message type.
_TEXT_PATHS: Mapping[str, Sequence[tuple[str, ...]]] = {
    "text": (("text", "body"),),
    "button": (("button", "text"), ("button", "payload")),
    "interactive": (
        ("interactive", "button_reply", "title"),
        ("interactive", "button_reply", "id"),
        ("interactive", "list_reply", "title"),
        ("interactive", "list_reply", "id"),
    ),
    "image": (("image", "caption"),),
    "video": (("video", "caption"),),
    "document": (("document", "caption"),),
}
# chat_messages.conteudo_tipo of a customer's message.
CONTENT_TYPES = {
    "image": "IMAGEM",
    "sticker": "IMAGEM",
    "video": "VIDEO",
    "document": "DOCUMENTO",
    "audio": "AUDIO",
}
TEXT_CONTENT = "TEXTO"


@dataclass(frozen=True)
class WebhookEvent:
    key: str
    kind: WebhookEventKind
    phone_number_id: str
    wamid: str
    at: datetime
    wa_id: str | None  # the customer: recipient of our message, or sender of theirs
    content: dict[str, Any]  # the status or message object as Meta sent it
    status: str | None = None
    interaction_id: UUID | None = None
    error_code: str | None = None
    error_title: str | None = None


@dataclass(frozen=True)
class ParsedWebhook:
    events: list[WebhookEvent]
    problems: list[str]


def parse_webhook(payload: Any) -> ParsedWebhook:
    """The events of a decoded webhook body, and what could not be read (path: reason)."""
    if not isinstance(payload, dict) or payload.get("object") != OBJECT:
        kind = payload.get("object") if isinstance(payload, dict) else type(payload).__name__
        return ParsedWebhook([], [f"object: not a WhatsApp Business Account webhook ({kind!r})"])
    events: list[WebhookEvent] = []
    problems: list[str] = []
    for e, entry in enumerate(_list(payload.get("entry"))):
        for c, change in enumerate(_list(_get(entry, "changes"))):
            if _get(change, "field") != FIELD:
                continue  # template, account and quality updates: stored, not events
            value = _get(change, "value")
            path = f"entry[{e}].changes[{c}].value"
            number = _text(_get(_get(value, "metadata"), "phone_number_id"))
            if number is None:
                problems.append(f"{path}.metadata.phone_number_id: missing")
                continue
            for s, status in enumerate(_list(_get(value, "statuses"))):
                _read(_status_event, status, number, f"{path}.statuses[{s}]", events, problems)
            for m, message in enumerate(_list(_get(value, "messages"))):
                _read(_message_event, message, number, f"{path}.messages[{m}]", events, problems)
    return ParsedWebhook(events, problems)


class _Unreadable(ValueError):
    pass


def _read(reader, item, number, path, events, problems) -> None:
    try:
        events.append(reader(item, number))
    except _Unreadable as error:
        problems.append(f"{path}.{error}")


def _status_event(status: Any, number: str) -> WebhookEvent:
    wamid = _required(status, "id")
    state = _required(status, "status")
    errors = _list(_get(status, "errors"))
    first_error = errors[0] if errors and isinstance(errors[0], dict) else {}
    code = first_error.get("code")
    return WebhookEvent(
        key=f"status:{wamid}:{state}",
        kind=WebhookEventKind.STATUS,
        phone_number_id=number,
        wamid=wamid,
        at=_timestamp(status),
        wa_id=_text(_get(status, "recipient_id")),
        content=status,
        status=state,
        interaction_id=interaction_from_callback(_get(status, "biz_opaque_callback_data")),
        error_code=None if code is None else str(code),
        error_title=_text(first_error.get("title")) or _text(first_error.get("message")),
    )


def _message_event(message: Any, number: str) -> WebhookEvent:
    wamid = _required(message, "id")
    return WebhookEvent(
        key=f"mensagem:{wamid}",
        kind=WebhookEventKind.MESSAGE,
        phone_number_id=number,
        wamid=wamid,
        at=_timestamp(message),
        wa_id=_required(message, "from"),
        content=message,
    )


def message_texts(message: Mapping[str, Any]) -> list[str]:
    """The texts a customer's message carries (a button has its title and its payload)."""
    texts = []
    for path in _TEXT_PATHS.get(str(message.get("type")), ()):
        value: Any = message
        for step in path:
            value = _get(value, step)
        if isinstance(value, str) and value.strip():
            texts.append(value)
    return texts


def content_type(message: Mapping[str, Any]) -> str:
    return CONTENT_TYPES.get(str(message.get("type")), TEXT_CONTENT)


def _timestamp(item: Any) -> datetime:
    raw = _required(item, "timestamp")
    try:
        return datetime.fromtimestamp(int(raw), UTC)
    except (ValueError, OverflowError, OSError):
        raise _Unreadable(f"timestamp: not Unix seconds ({raw!r})") from None


def _required(item: Any, field: str) -> str:
    value = _text(_get(item, field))
    if value is None:
        raise _Unreadable(f"{field}: missing")
    return value


def _get(item: Any, field: str) -> Any:
    return item.get(field) if isinstance(item, dict) else None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and value.strip() else None
