"""A local CardápioWeb partner API: the real contract (docs/erp-wire-formats.md#cardápioweb),
realistic orders, faults.

Serves `GET /api/partner/v1/orders/history` (pages of order summaries filtered by
`start_date`/`end_date`/`status`), `GET /api/partner/v1/orders/{id}` (the detail) and
`GET /api/partner/v1/catalog` (the menu the orders are made of), all authenticated by
`X-Merchant-Id` and `X-Api-Key`. Each merchant is a restaurant with
deterministic orders per local day; a clock decides which have happened. Faults, steered from
Python (`CardapioWebSimulator.configure`): failing detail calls, forced 429s with Retry-After,
enforced per-minute limits, enum drift, cancellations and edits of existing orders.

The API key is a credential: it is never logged nor kept in the request log.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from recompra_pipelines.domain.local_time import DEFAULT_TIMEZONE
from recompra_pipelines.simulators.br_fake_data import mobile_digits, person_name, render_phone
from recompra_pipelines.simulators.serving import serve_in_thread

HISTORY_PATH = "/api/partner/v1/orders/history"
DETAIL_PATH = "/api/partner/v1/orders/{order_id:int}"
CATALOG_PATH = "/api/partner/v1/catalog"
STORE_TIMEZONE = ZoneInfo(DEFAULT_TIMEZONE)
OPENING_HOUR, CLOSING_HOUR = 11, 23

# (external_code or None, name, unit price in cents, kind)
MENU = (
    ("PZ-MARG", "Pizza Margherita", 5490, "regular_item"),
    ("PZ-CALA", "Pizza Calabresa", 5290, "regular_item"),
    (None, "Pizza Quatro Queijos", 5990, "regular_item"),
    ("BG-CLAS", "Hambúrguer Clássico", 3290, "regular_item"),
    ("BG-BACON", "X-Bacon", 3690, "regular_item"),
    ("CB-FAM", "Combo Família", 11990, "combo"),
    (None, "Refrigerante Lata", 700, "regular_item"),
    ("SUCO-LAR", "Suco de Laranja 500ml", 1100, "regular_item"),
    ("AÇAÍ-500", "Açaí 500ml", 2490, "regular_item"),
)
OPTIONS = (("BORDA-CAT", "Borda de catupiry", 900), ("EXTRA-QJ", "Queijo extra", 500))
# The catalog's category of each menu item, by name prefix.
CATEGORIES = (
    ("Pizza", "Pizzas"),
    ("Hambúrguer", "Lanches"),
    ("X-", "Lanches"),
    ("Combo", "Combos"),
    ("Refrigerante", "Bebidas"),
    ("Suco", "Bebidas"),
    ("Açaí", "Sobremesas"),
)
ITEM_ID_BASE, OPTION_ID_BASE, OPTION_GROUP_ID = 500, 700, 70
CHANNELS = ("catalog", "store_front_catalog", "portal", "whatsapp_extension", "ifood")
ORDER_TYPES = ("delivery", "takeout", "onsite", "closed_table")
PAYMENTS = ("pix", "credit_card", "debit_card", "money", "online_credit_card")
NEIGHBORHOODS = ("Centro", "Jardim América", "Vila Nova", "Boa Vista", "Santa Cruz")
STREETS = ("Rua das Flores", "Avenida Brasil", "Rua XV de Novembro", "Rua São João")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MerchantConfig:
    api_key: str | None = None  # None: any key is accepted
    orders_per_day: int = 30
    # Order ids whose detail call answers HTTP 500 (until removed).
    failing_details: frozenset[int] = frozenset()
    # The next N calls (any endpoint) answer 429 with this Retry-After.
    force_429: int = 0
    retry_after_seconds: int = 1
    # Enforced limits per minute (None: not enforced), answering 429 + Retry-After when exceeded.
    history_per_minute: int | None = None
    details_per_minute: int | None = None
    # Every Nth order carries values outside the documented enums (0: none).
    drift_every: int = 0
    cancelled: frozenset[int] = frozenset()
    # order id -> fields replaced in its detail (e.g. a changed customer or items).
    edits: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Catalog item ids the merchant took off the menu (they leave the catalog).
    off_the_menu: frozenset[int] = frozenset()

    def updated(self, **changes: Any) -> MerchantConfig:
        for name in ("failing_details", "cancelled", "off_the_menu"):
            if name in changes:
                changes[name] = frozenset(changes[name])
        return replace(self, **changes)


class CardapioWebSimulator:
    def __init__(self, *, now: datetime | None = None, timezone: ZoneInfo = STORE_TIMEZONE):
        self.timezone = timezone
        self._lock = threading.RLock()
        self._merchants: dict[str, MerchantConfig] = {}
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._requests: deque[dict[str, Any]] = deque(maxlen=10_000)
        self._now = now
        self._clock_started: float | None = None

    # -- configuration and clock -------------------------------------------------------------

    def configure(self, merchant_id: str, **changes: Any) -> MerchantConfig:
        with self._lock:
            cfg = self._merchants.get(str(merchant_id), MerchantConfig()).updated(**changes)
            self._merchants[str(merchant_id)] = cfg
            return cfg

    def config_for(self, merchant_id: str) -> MerchantConfig:
        with self._lock:
            return self._merchants.get(str(merchant_id), MerchantConfig())

    def set_now(self, now: datetime | None, *, running: bool = False) -> None:
        with self._lock:
            if now is not None and now.tzinfo is None:
                now = now.replace(tzinfo=self.timezone)
            self._now = now
            self._clock_started = time.monotonic() if running else None

    def start_clock_today_at(self, hh_mm: str) -> None:
        hour, minute = (int(part) for part in hh_mm.split(":"))
        today = datetime.now(self.timezone).date()
        self.set_now(datetime(today.year, today.month, today.day, hour, minute), running=True)

    def now(self) -> datetime:
        with self._lock:
            if self._now is None:
                return datetime.now(self.timezone)
            elapsed = time.monotonic() - self._clock_started if self._clock_started else 0.0
            return self._now + timedelta(seconds=elapsed)

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    # -- data ----------------------------------------------------------------------------------

    def orders_for(self, merchant_id: str, day: date) -> list[dict[str, Any]]:
        """The day's order details that have happened by now (cancellations and edits applied)."""
        cfg = self.config_for(merchant_id)
        now = self.now()
        orders = [
            _order(merchant_id, day, n, cfg, self.timezone) for n in range(cfg.orders_per_day)
        ]
        return [o for o in orders if datetime.fromisoformat(o["created_at"]) <= now]

    def order(self, merchant_id: str, order_id: int) -> dict[str, Any] | None:
        day, number = _decode_id(order_id)
        if day is None:
            return None
        cfg = self.config_for(merchant_id)
        if number >= cfg.orders_per_day:
            return None
        order = _order(merchant_id, day, number, cfg, self.timezone)
        return order if datetime.fromisoformat(order["created_at"]) <= self.now() else None

    # -- serving ---------------------------------------------------------------------------------

    def _admit(self, merchant_id: str, family: str) -> Response | None:
        """Auth is checked by the caller; here the forced and enforced rate limits."""
        with self._lock:
            cfg = self.config_for(merchant_id)
            if cfg.force_429 > 0:
                self._merchants[merchant_id] = replace(cfg, force_429=cfg.force_429 - 1)
                return _too_many(cfg.retry_after_seconds)
            limit = cfg.history_per_minute if family == "history" else cfg.details_per_minute
            if limit is None:
                return None
            window = self._calls.setdefault((merchant_id, family), deque())
            moment = time.monotonic()
            while window and moment - window[0] >= 60:
                window.popleft()
            if len(window) >= limit:
                return _too_many(max(1, int(60 - (moment - window[0])) + 1))
            window.append(moment)
            return None

    def _authenticate(self, request: Request) -> tuple[str | None, Response | None]:
        merchant_id = request.headers.get("X-Merchant-Id")
        api_key = request.headers.get("X-Api-Key")
        if not merchant_id or not api_key:
            return None, JSONResponse({"message": "Unauthenticated."}, 401)
        expected = self.config_for(merchant_id).api_key
        if expected is not None and api_key != expected:
            return None, JSONResponse({"message": "Unauthenticated."}, 401)
        return merchant_id, None

    def _log(self, merchant_id: str | None, family: str, status: int, **extra: Any) -> None:
        with self._lock:
            self._requests.append(
                {"merchant_id": merchant_id, "family": family, "status": status, **extra}
            )
        log.info("cardapio-web %s %s -> %s %s", merchant_id, family, status, extra or "")

    async def history(self, request: Request) -> Response:
        merchant_id, denied = self._authenticate(request)
        if denied is not None:
            self._log(merchant_id, "history", denied.status_code)
            return denied
        limited = self._admit(merchant_id, "history")
        if limited is not None:
            self._log(merchant_id, "history", 429)
            return limited
        q = request.query_params
        try:
            page = int(q.get("page", "1"))
            per_page = int(q.get("per_page", "20"))
            start = datetime.fromisoformat(q["start_date"])
            end = datetime.fromisoformat(q["end_date"])
        except (KeyError, ValueError):
            self._log(merchant_id, "history", 422)
            return JSONResponse({"message": "The given data was invalid."}, 422)
        if not 1 <= per_page <= 100 or page < 1:
            self._log(merchant_id, "history", 422)
            return JSONResponse({"message": "per_page must be between 1 and 100."}, 422)
        statuses = set(filter(None, q.get("status", "").split(",")))
        orders = []
        day = start.astimezone(self.timezone).date()
        while datetime.combine(day, datetime.min.time(), tzinfo=self.timezone) < end:
            for order in self.orders_for(merchant_id, day):
                created = datetime.fromisoformat(order["created_at"])
                if start <= created < end and (not statuses or order["status"] in statuses):
                    orders.append(order)
            day += timedelta(days=1)
        total_pages = max(1, -(-len(orders) // per_page))
        chunk = orders[(page - 1) * per_page : page * per_page]
        self._log(merchant_id, "history", 200, page=page, orders=len(chunk))
        return JSONResponse(
            {
                "orders": [
                    {
                        k: o[k]
                        for k in (
                            "id",
                            "status",
                            "order_type",
                            "order_timing",
                            "sales_channel",
                            "created_at",
                            "updated_at",
                        )
                    }
                    for o in chunk
                ],
                "pagination": {
                    "current_page": page,
                    "total_pages": total_pages,
                    "total_orders": len(orders),
                },
            }
        )

    async def detail(self, request: Request) -> Response:
        merchant_id, denied = self._authenticate(request)
        order_id = request.path_params["order_id"]
        if denied is not None:
            self._log(merchant_id, "details", denied.status_code, order_id=order_id)
            return denied
        limited = self._admit(merchant_id, "details")
        if limited is not None:
            self._log(merchant_id, "details", 429, order_id=order_id)
            return limited
        if order_id in self.config_for(merchant_id).failing_details:
            self._log(merchant_id, "details", 500, order_id=order_id)
            return JSONResponse({"message": "Server Error"}, 500)
        order = self.order(merchant_id, order_id)
        if order is None:
            self._log(merchant_id, "details", 404, order_id=order_id)
            return JSONResponse({"message": "Order not found."}, 404)
        self._log(merchant_id, "details", 200, order_id=order_id)
        return JSONResponse(order)

    async def catalog(self, request: Request) -> Response:
        merchant_id, denied = self._authenticate(request)
        if denied is not None:
            self._log(merchant_id, "catalog", denied.status_code)
            return denied
        limited = self._admit(merchant_id, "history")  # the catalog shares the 5/min limit
        if limited is not None:
            self._log(merchant_id, "catalog", 429)
            return limited
        self._log(merchant_id, "catalog", 200)
        return JSONResponse(catalog(self.config_for(merchant_id)))

    @contextlib.contextmanager
    def run_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve from a background thread; yields the base URL (port 0 picks a free port)."""
        with serve_in_thread(
            create_app(self), name="CardápioWeb simulator", host=host, port=port
        ) as url:
            yield url


def create_app(simulator: CardapioWebSimulator) -> Starlette:
    return Starlette(
        routes=[
            Route(HISTORY_PATH, simulator.history, methods=["GET"]),
            Route(DETAIL_PATH, simulator.detail, methods=["GET"]),
            Route(CATALOG_PATH, simulator.catalog, methods=["GET"]),
        ]
    )


def _too_many(retry_after: int) -> Response:
    return JSONResponse(
        {"message": "Too Many Attempts."}, 429, headers={"Retry-After": str(retry_after)}
    )


# -- the catalog ------------------------------------------------------------------------------


def catalog(cfg: MerchantConfig) -> dict[str, Any]:
    """The menu as `GET /api/partner/v1/catalog` answers it: the items the orders are made of
    (same ids and external codes), grouped by category; pizzas offer the add-on group."""
    categories: dict[str, list[dict[str, Any]]] = {}
    for index, (code, name, price, kind) in enumerate(MENU):
        item_id = ITEM_ID_BASE + index
        if item_id in cfg.off_the_menu:
            continue
        category = next(label for prefix, label in CATEGORIES if name.startswith(prefix))
        categories.setdefault(category, []).append(
            _catalog_item(item_id, code, name, price, kind, with_options=name.startswith("Pizza"))
        )
    return {
        "categories": [
            {
                "id": 900 + position,
                "name": name,
                "description": None,
                "status": "ACTIVE",
                "index": position,
                "image": None,
                "allowed_times": [],
                "items": items,
            }
            for position, (name, items) in enumerate(categories.items())
        ]
    }


def _catalog_item(
    item_id: int, code: str | None, name: str, price: int, kind: str, *, with_options: bool
) -> dict[str, Any]:
    options = [
        {
            "id": OPTION_ID_BASE + n,
            "name": option_name,
            "description": None,
            "external_code": option_code,
            "price": option_price / 100,
            "status": "ACTIVE",
            "index": n,
            "image": None,
            "max_quantity": 2,
        }
        for n, (option_code, option_name, option_price) in enumerate(OPTIONS)
    ]
    return {
        "id": item_id,
        "name": name,
        "description": f"{name} da casa",
        "image": {
            "image_url": f"https://cdn.cardapioweb.example/{item_id}.jpg",
            "thumbnail_url": f"https://cdn.cardapioweb.example/{item_id}-thumb.jpg",
        },
        "highlighted": False,
        "external_code": code,
        "price": price / 100,
        "stock": 40 if kind == "regular_item" else None,
        "active_stock_control": kind == "regular_item",
        "index": item_id - ITEM_ID_BASE,
        "available_for": ["delivery", "table"],
        "hide_observation_field": False,
        "adults_only": False,
        "promotional_price_active": False,
        "promotional_price": None,
        "promotional_price_availability": [],
        "status": "ACTIVE",
        "unit_type": "UN",
        "kind": kind,
        "allowed_times": [],
        "extra_images": [],
        "option_groups": [
            {
                "id": OPTION_GROUP_ID,
                "name": "Adicionais",
                "status": "ACTIVE",
                "choice_type": "MULTIPLE",
                "price_calculation_type": "SUM",
                "available_for": ["delivery", "table"],
                "minimum_quantity": 0,
                "maximum_quantity": 2,
                "index": 0,
                "options": options,
            }
        ]
        if with_options
        else [],
        "combo_steps": [],
    }


# -- deterministic orders ---------------------------------------------------------------------

_EPOCH = date(2020, 1, 1)


def _encode_id(day: date, number: int) -> int:
    """Order ids carry their day, so a detail call needs no index: 1DDDDNNNN."""
    return 1_000_000_000 + (day - _EPOCH).days * 10_000 + number


def _decode_id(order_id: int) -> tuple[date | None, int]:
    rest = order_id - 1_000_000_000
    if rest < 0:
        return None, 0
    return _EPOCH + timedelta(days=rest // 10_000), rest % 10_000


def _order(
    merchant_id: str, day: date, number: int, cfg: MerchantConfig, timezone: ZoneInfo
) -> dict[str, Any]:
    seed = hashlib.sha256(f"{merchant_id}|{day.isoformat()}|{number}".encode()).hexdigest()
    rng = random.Random(seed)
    order_id = _encode_id(day, number)
    minutes = int(
        (CLOSING_HOUR - OPENING_HOUR) * 60 * (number + rng.random()) / max(cfg.orders_per_day, 1)
    )
    created = datetime.combine(day, datetime.min.time(), tzinfo=timezone) + timedelta(
        hours=OPENING_HOUR, minutes=minutes, seconds=rng.randrange(60)
    )
    naturally_cancelled = rng.random() < 0.05
    cancelled = naturally_cancelled or order_id in cfg.cancelled
    drift = cfg.drift_every and number % cfg.drift_every == cfg.drift_every - 1
    order_type = rng.choice(ORDER_TYPES)
    items, subtotal = [], 0
    for index in range(rng.randint(1, 3)):
        code, name, price, kind = rng.choice(MENU)
        quantity = rng.randint(1, 3)
        options = []
        if name.startswith("Pizza") and rng.random() < 0.5:
            opt_code, opt_name, opt_price = rng.choice(OPTIONS)
            options.append(
                {
                    "option_id": OPTION_ID_BASE + OPTIONS.index((opt_code, opt_name, opt_price)),
                    "external_code": opt_code,
                    "name": opt_name,
                    "quantity": 1,
                    "unit_price": opt_price / 100,
                    "option_group_id": OPTION_GROUP_ID,
                    "option_group_name": "Adicionais",
                    "option_group_total_selected_options": 2,
                }
            )
        line_total = (price + sum(int(o["unit_price"] * 100) for o in options)) * quantity
        item_status = "canceled" if index and rng.random() < 0.05 else "ok"
        if item_status == "ok":
            subtotal += line_total
        items.append(
            {
                "item_id": ITEM_ID_BASE + MENU.index((code, name, price, kind)),
                "order_item_id": order_id * 10 + index,
                "external_code": code,
                "name": name,
                "quantity": quantity,
                "unit_price": price / 100,
                "total_price": line_total / 100,
                "kind": kind,
                "status": item_status,
                "observation": "sem cebola" if rng.random() < 0.1 else None,
                "options": options,
            }
        )
    delivery_fee = 700 if order_type == "delivery" else 0
    discount = 500 if rng.random() < 0.15 else 0
    total = subtotal + delivery_fee - discount
    customer = None
    if rng.random() < 0.9:
        area = rng.choice(("11", "19", "21", "31"))
        customer_number = rng.randrange(max(cfg.orders_per_day // 2, 1))  # returning customers
        crng = random.Random(f"{merchant_id}|customer|{customer_number}")
        customer = {
            "id": 90_000 + customer_number,
            "name": person_name(crng) if crng.random() < 0.95 else "CLIENTE CARDAPIO WEB",
            "phone": render_phone(mobile_digits(crng, area), "paren")
            if crng.random() < 0.9
            else None,
        }
    address = None
    if order_type == "delivery":
        address = {
            "street": rng.choice(STREETS),
            "number": str(rng.randint(1, 2000)),
            "address_block": None,
            "address_lot": None,
            "neighborhood": rng.choice(NEIGHBORHOODS),
            "complement": rng.choice((None, "apto 12", "casa 2")),
            "reference": None,
            "postal_code": f"{rng.randint(10000, 99999)}-{rng.randint(100, 999)}",
            "city": "São Paulo",
            "state": "SP",
            "latitude": None,
            "longitude": None,
        }
    status = "canceled" if cancelled else "closed"
    order = {
        "id": order_id,
        "display_id": number + 1,
        "external_display_id": None,
        "merchant_id": int(merchant_id) if str(merchant_id).isdigit() else 0,
        "status": status,
        "order_type": order_type,
        "order_timing": "immediate",
        "sales_channel": "tiktok_shop" if drift else rng.choice(CHANNELS),
        "customer_origin": None,
        "delivered_by": "merchant" if order_type == "delivery" else None,
        "table_number": "7" if order_type in ("onsite", "closed_table") else None,
        "estimated_time": 40,
        "cancellation_reason": "Cliente desistiu" if cancelled else None,
        "fiscal_document": None,
        "observation": None,
        "delivery_fee": delivery_fee / 100,
        "service_fee": 0,
        "additional_fee": 0,
        "total": total / 100,
        "created_at": created.isoformat(),
        "updated_at": (created + timedelta(minutes=45)).isoformat(),
        "schedule": None,
        "customer": customer,
        "delivery_address": address,
        "items": items,
        "discounts": (
            [
                {
                    "kind": "discount",
                    "category": "coupon",
                    "total": discount / 100,
                    "total_points": 0,
                    "coupon_code": "BEMVINDO",
                }
            ]
            if discount
            else []
        ),  # fmt: skip
        "payments": [
            {
                "total": total / 100,
                "payment_method": "pix_parcelado" if drift else rng.choice(PAYMENTS),
                "payment_type": "online",
                "payment_fee": 0,
                "change_for": None,
                "status": "paid",
            }
        ],
    }
    if order_id in cfg.edits:
        order.update(cfg.edits[order_id])
        order["updated_at"] = (created + timedelta(hours=2)).isoformat()
    if cancelled:
        order["updated_at"] = (created + timedelta(hours=1)).isoformat()
    return order


def serve(
    port: int, host: str = "127.0.0.1", simulator: CardapioWebSimulator | None = None
) -> None:
    """Run the simulator in the foreground."""
    simulator = simulator or CardapioWebSimulator()
    log.info("CardápioWeb simulator on http://%s:%s", host, port)
    uvicorn.run(create_app(simulator), host=host, port=port, access_log=False, log_level="info")
