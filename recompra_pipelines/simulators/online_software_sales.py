"""Deterministic Online Software sales, in the exact wire shape of ``listarVendas001``.

A token is a store. Its customers, catalogue, sellers, partners and fiscal identity are derived
from a stable hash of the token (and ``seed_salt``), and each day's sales from a hash of the
token and the date, so every run of every machine serves the same bytes for the same question.

A day is generated whole, then cut by the clock: a sale exists once its time of day has passed,
and a sale cancelled later in the day shows its cancelled form once that later time has passed.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import random
import threading
from bisect import bisect
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from recompra_pipelines.simulators import br_fake_data as fake

OPEN_SECONDS = 8 * 3600
CLOSE_SECONDS = 22 * 3600
DAY_SECONDS = 24 * 3600
_EPOCH = date(2000, 1, 1)

RESPONSE_MODES = ("normal", "null_resultado", "missing_resultado", "html_error")
MALFORMATIONS = (
    "missing_valor",
    "valor_not_a_number",
    "valor_nan",
    "negative_qtde",
    "impossible_data",
    "item_missing_codigo",
    "itens_not_a_list",
)
REMOVE_FIELD = "__remove__"
"""An ``overrides`` value that deletes the field instead of replacing it."""


@dataclass
class TokenConfig:
    """Everything that shapes one token's data and faults. Unknown keys are rejected."""

    sales_per_day: int = 40
    comma_decimal_fraction: float = 0.0
    datahora_fraction: float = 0.7
    seed_salt: str = ""
    anonymous_fraction: float = 0.15
    cancel_fraction: float = 0.02
    troco_fraction: float = 0.01
    daily_variation: float = 0.0
    closed_weekdays: list[int] = field(default_factory=list)
    customer_pool_size: int | None = None
    product_catalogue_size: int | None = None
    # faults
    latency_seconds: float = 0.0
    fail_next: list[int] = field(default_factory=list)
    retry_after_seconds: float = 1.0
    malformed_records: int = 0
    non_list_resultado: str | None = None
    empty_day_message: str | None = None
    response_mode: str = "normal"
    max_window_days: int | None = None
    extra_sales: list[dict[str, Any]] = field(default_factory=list)
    # JSON texts appended to `resultado` exactly as given, for input no encoder writes (NaN
    # literals, nesting thousands deep, 5,000-digit numbers). A character \udc80-\udcff goes
    # out as that single raw byte (surrogateescape), so a text can carry bytes that are not
    # UTF-8.
    extra_record_texts: list[str] = field(default_factory=list)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def updated(self, **changes: Any) -> TokenConfig:
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown simulator config keys: {sorted(unknown)}")
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def validate(self) -> None:
        if not isinstance(self.sales_per_day, int) or not 0 <= self.sales_per_day <= 999_999:
            raise ValueError("sales_per_day must be an integer in [0, 999999]")
        for name in (
            "comma_decimal_fraction",
            "datahora_fraction",
            "anonymous_fraction",
            "cancel_fraction",
            "troco_fraction",
            "daily_variation",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number in [0, 1]")
        for name in ("customer_pool_size", "product_catalogue_size", "max_window_days"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or null")
        if not all(isinstance(d, int) and 0 <= d <= 6 for d in self.closed_weekdays):
            raise ValueError("closed_weekdays must list weekday numbers 0 (Monday) to 6")
        for name in ("latency_seconds", "retry_after_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a non-negative number")
        if self.response_mode not in RESPONSE_MODES:
            raise ValueError(f"response_mode must be one of {RESPONSE_MODES}")
        if not all(isinstance(code, int) and 100 <= code <= 599 for code in self.fail_next):
            raise ValueError("fail_next must be a list of HTTP status codes")
        if not isinstance(self.malformed_records, int) or self.malformed_records < 0:
            raise ValueError("malformed_records must be a non-negative integer")
        if not isinstance(self.overrides, dict) or not all(
            isinstance(v, dict) for v in self.overrides.values()
        ):
            raise ValueError("overrides must map sale ids to dicts of fields")
        if not isinstance(self.extra_sales, list):
            raise ValueError("extra_sales must be a list of sale objects")
        if not isinstance(self.extra_record_texts, list) or not all(
            isinstance(text, str) for text in self.extra_record_texts
        ):
            raise ValueError("extra_record_texts must be a list of JSON texts")

    def generation_key(self) -> tuple[Any, ...]:
        """The fields that decide the generated data (faults excluded)."""
        return (
            self.sales_per_day,
            self.comma_decimal_fraction,
            self.datahora_fraction,
            self.seed_salt,
            self.anonymous_fraction,
            self.cancel_fraction,
            self.troco_fraction,
            self.daily_variation,
            tuple(self.closed_weekdays),
            self.customer_pool_size,
            self.product_catalogue_size,
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_encode = json.JSONEncoder(separators=(",", ":")).encode
"""Compact, ASCII-escaped JSON — the shape PHP's ``json_encode`` produces."""


def stable_seed(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


# -- the store behind a token ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Customer:
    name: str
    name_style: str
    fone: str | None  # national digits typed in ``clientefone``
    celular: str | None  # national digits typed in ``clientecelular``
    phone_style: str


@dataclass(frozen=True, slots=True)
class Store:
    id_prefix: int
    uf: str
    issuer_cnpj: str
    registers: int
    qty_fixed_decimals: bool
    unit_price_decimals: int
    customers: tuple[Customer, ...]
    products: tuple[fake.Product, ...]
    sellers: tuple[str, ...]
    partners: tuple[str, ...]
    item_templates: dict[str, tuple[str, ...]]  # decimal separator -> JSON text per product


_SLOT = "\x00slot\x00"


def _item_template(product: fake.Product, price_decimals: int, sep: str) -> str:
    """An item of ``product`` as JSON text in wire order, with ``%s`` slots for the per-sale
    qtde, vprod, vdesc (strings) and vcusto (number). Formatting a template is far cheaper
    than encoding a dict per item, which matters at 100,000 items a day."""
    zero = _money(0, sep)
    item = {
        "codigo": product.codigo,
        "descricao": product.descricao,
        "unidade": product.unidade,
        "qtde": _SLOT,
        "valorunit": _unit_price(product.price_cents, price_decimals, sep),
        "vprod": _SLOT,
        "vdesc": _SLOT,
        "vcusto": _SLOT,
        "baseicms": zero,
        "percent": zero,
        "icms": zero,
        "cst_icms": "",
        "csosn": product.csosn,
        "cst_pis": "49",
        "cfop": product.cfop,
        "vfrete": zero,
        "vseg": zero,
        "voutro": zero,
        "vipi": zero,
        "vicmsst": zero,
        "vicms_desonera": zero,
        "cest": product.cest,
        "tipo": "PRODUTO",
        "ncm": product.ncm,
        "grupo": product.grupo,
    }
    slot = _encode(_SLOT)
    text = _encode(item).replace("%", "%%")
    head, vcusto_slot, tail = text.rpartition(slot)
    return (head + "%s" + tail).replace(slot, '"%s"')


_PLACEMENTS = ("fone", "celular", "landline_and_mobile", "landline", "both_same", "none")
_PLACEMENT_WEIGHTS = (60, 10, 8, 5, 7, 10)


def _customer(rng: random.Random, areas: tuple[str, ...]) -> Customer:
    name = fake.person_name(rng)
    roll = rng.random()
    area = rng.choice(areas) if roll < 0.85 else rng.choice(fake.OTHER_AREA_CODES)
    mobile = fake.mobile_digits(rng, area)
    placement = rng.choices(_PLACEMENTS, _PLACEMENT_WEIGHTS)[0]
    fone: str | None = None
    celular: str | None = None
    if placement == "fone":
        fone = mobile
    elif placement == "celular":
        celular = mobile
    elif placement == "landline_and_mobile":
        fone, celular = fake.landline_digits(rng, area), mobile
    elif placement == "landline":
        fone = fake.landline_digits(rng, area)
    elif placement == "both_same":
        fone = celular = mobile
    return Customer(
        name=name,
        name_style=rng.choices(("title", "upper_ascii", "upper"), (60, 30, 10))[0],
        fone=fone,
        celular=celular,
        phone_style=rng.choices(fake.MOBILE_STYLES, fake.MOBILE_STYLE_WEIGHTS)[0],
    )


@functools.lru_cache(maxsize=64)
def store_for(token: str, seed_salt: str, customer_pool: int, catalogue_size: int) -> Store:
    rng = random.Random(stable_seed("store", token, seed_salt))
    uf, _state, areas = rng.choice(fake.STATES)
    customers = tuple(_customer(rng, areas) for _ in range(customer_pool))
    profile = rng.choice(sorted(fake.STORE_PROFILES))
    products = fake.product_catalogue(rng, catalogue_size, profile, accented=rng.random() < 0.3)
    sellers = tuple(rng.sample(fake.SELLER_NAMES, rng.randint(3, 8)))
    partners = tuple(
        fake.cpf(rng, valid=rng.random() < 0.9)
        if rng.random() < 0.6
        else fake.cnpj(rng, valid=rng.random() < 0.9)
        for _ in range(rng.randint(5, 20))
    )
    price_decimals = 2 if rng.random() < 0.8 else 4
    return Store(
        id_prefix=rng.randint(1, 9),
        uf=uf,
        issuer_cnpj=fake.cnpj(rng),
        registers=rng.randint(1, 3),
        qty_fixed_decimals=rng.random() < 0.5,
        unit_price_decimals=price_decimals,
        customers=customers,
        products=tuple(products),
        sellers=sellers,
        partners=partners,
        item_templates={
            sep: tuple(_item_template(p, price_decimals, sep) for p in products) for sep in ".,"
        },
    )


def _store(token: str, cfg: TokenConfig) -> Store:
    pool = cfg.customer_pool_size or min(max(cfg.sales_per_day * 10, 300), 2000)
    catalogue = cfg.product_catalogue_size or min(max(cfg.sales_per_day * 5, 200), 800)
    return store_for(token, cfg.seed_salt, pool, catalogue)


# -- number formatting -----------------------------------------------------------------------


def _money(cents: int, sep: str = ".") -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}{sep}{cents % 100:02d}"


def _unit_price(cents: int, decimals: int, sep: str) -> str:
    return _money(cents, sep) + ("00" if decimals == 4 else "")


def _quantity(milli: int, fixed: bool, sep: str) -> str:
    if milli % 1000 == 0 and not fixed:
        return str(milli // 1000)
    return f"{milli // 1000}{sep}{milli % 1000:03d}"


def _round_hundred_thousandths(amount: int) -> int:
    """Round an amount in 1e-5 reais to centavos, half up (amounts here are non-negative)."""
    return (amount + 500) // 1000


# -- one day ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayRecord:
    """One wire record, kept as its JSON text: as first served and, if cancelled later, after."""

    at: int  # seconds after local midnight when the record appears
    sale_id: str
    json: str
    cancelled_at: int | None = None
    cancelled_json: str | None = None


def _cumulative(weights: tuple[int, ...]) -> tuple[float, ...]:
    total, out = 0, []
    for w in weights:
        total += w
        out.append(total)
    return tuple(t / total for t in out)


def _pick(rng: random.Random, values: tuple[Any, ...], cumulative: tuple[float, ...]) -> Any:
    return values[bisect(cumulative, rng.random())]


_MODELOS = ("65", "DV", "55", "02", "3A")
_MODELO_CUMULATIVE = _cumulative((60, 20, 8, 10, 2))
_ITEM_COUNTS = tuple(range(1, 11))
_ITEM_COUNT_CUMULATIVE = _cumulative((15, 15, 14, 12, 11, 9, 8, 6, 5, 5))
_PHONE_STYLE_CUMULATIVE = _cumulative(fake.MOBILE_STYLE_WEIGHTS)
_NOTES = (1000, 2000, 5000, 10000, 20000)


def _time_of_day(rng: random.Random) -> int:
    """Opening hours 08:00–22:00 with a lunch and an after-work peak."""
    roll = rng.random()
    if roll < 0.4:
        t = rng.uniform(OPEN_SECONDS, CLOSE_SECONDS)
    elif roll < 0.7:
        t = rng.gauss(12.5 * 3600, 3600)
    else:
        t = rng.gauss(18.5 * 3600, 1.3 * 3600)
    return int(min(max(t, OPEN_SECONDS), CLOSE_SECONDS))


def sales_count(token: str, cfg: TokenConfig, day: date) -> int:
    """Distinct sales of the day (troco lines repeat an id and are not counted)."""
    if day.weekday() in cfg.closed_weekdays:
        return 0
    if not cfg.daily_variation:
        return cfg.sales_per_day
    jitter = random.Random(stable_seed("volume", token, cfg.seed_salt, day)).uniform(-1, 1)
    return max(0, round(cfg.sales_per_day * (1 + cfg.daily_variation * jitter)))


class _DayCache:
    """Generated days, least recently used first out, bounded by the JSON text they hold."""

    def __init__(self, budget_chars: int) -> None:
        self.budget = budget_chars
        self.days: OrderedDict[tuple[Any, ...], tuple[tuple[DayRecord, ...], int]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> tuple[DayRecord, ...] | None:
        with self.lock:
            hit = self.days.get(key)
            if hit is None:
                return None
            self.days.move_to_end(key)
            return hit[0]

    def put(self, key: tuple[Any, ...], records: tuple[DayRecord, ...]) -> None:
        size = sum(len(r.json) + len(r.cancelled_json or "") for r in records)
        with self.lock:
            self.days[key] = (records, size)
            total = sum(s for _, s in self.days.values())
            while total > self.budget and len(self.days) > 1:
                _, (_, evicted) = self.days.popitem(last=False)
                total -= evicted

    def clear(self) -> None:
        with self.lock:
            self.days.clear()


DAY_CACHE = _DayCache(budget_chars=100_000_000)


def generate_day(token: str, cfg: TokenConfig, day: date) -> tuple[DayRecord, ...]:
    """Every record of the day in its first and final form, in id (= time) order. Cached."""
    key = (token, cfg.generation_key(), day)
    records = DAY_CACHE.get(key)
    if records is None:
        records = tuple(_DayBuilder(token, cfg, day).build())
        DAY_CACHE.put(key, records)
    return records


class _DayBuilder:
    def __init__(self, token: str, cfg: TokenConfig, day: date) -> None:
        self.cfg = cfg
        self.store = _store(token, cfg)
        self.rng = random.Random(stable_seed("day", token, cfg.seed_salt, day.isoformat()))
        self.count = sales_count(token, cfg, day)
        self.data = day.strftime("%d/%m/%Y")
        self.day_num = (day - _EPOCH).days
        self.yymm = day.strftime("%y%m")

    def build(self) -> list[DayRecord]:
        rng = self.rng
        times = sorted(_time_of_day(rng) for _ in range(self.count))
        id_base = self.store.id_prefix * 10**10 + self.day_num * 10**6 + 1
        records: list[DayRecord] = []
        for i, at in enumerate(times):
            sale_id = str(id_base + i)
            sale, items, net_cents = self._sale(sale_id, at, i)
            text = _with_items(sale, items)
            if sale["natureza"] == "SN01" and rng.random() < self.cfg.cancel_fraction:
                cancelled_at = min(at + rng.randint(300, 3 * 3600), DAY_SECONDS - 1)
                cancelled = dict(sale, natureza="SN02", situacao="02")
                if rng.random() < 0.4:
                    cancelled["valor"] = _money(0, _separator(sale))
                records.append(
                    DayRecord(at, sale_id, text, cancelled_at, _with_items(cancelled, items))
                )
            elif sale["natureza"] == "SN01" and rng.random() < self.cfg.troco_fraction:
                troco = DayRecord(
                    at, sale_id, _with_items(self._troco_line(sale, net_cents), items)
                )
                real = DayRecord(at, sale_id, text)
                records.extend((troco, real) if rng.random() < 0.5 else (real, troco))
            else:
                records.append(DayRecord(at, sale_id, text))
        return records

    def _troco_line(self, sale: dict[str, Any], net_cents: int) -> dict[str, Any]:
        """The cash-movement line OS emits under the sale's own id: the change handed back."""
        paid = next(
            (n for n in _NOTES if n > net_cents and n - net_cents != net_cents),
            (net_cents // 5000 + 2) * 5000,
        )
        change = paid - net_cents
        sep = _separator(sale)
        roll = self.rng.random()
        if roll < 0.6:
            return dict(sale, valor=_money(change, sep))
        if roll < 0.8:
            return dict(sale, valor=_money(change, sep), situacao="02")
        return dict(sale, valor=_money(-change if roll < 0.9 else 0, sep), situacao="02")

    def _sale(self, sale_id: str, at: int, seq: int) -> tuple[dict[str, Any], str, int]:
        """The sale's fields up to ``chave``, its items as JSON text, and its net in centavos."""
        rng, store, cfg = self.rng, self.store, self.cfg
        sep = "," if rng.random() < cfg.comma_decimal_fraction else "."
        if rng.random() < cfg.anonymous_fraction:
            cliente = fake.anonymous_client(rng)
            fone: str | None = rng.choice((None, ""))
            celular: str | None = rng.choice((None, ""))
        else:
            customer = store.customers[int(len(store.customers) * rng.random() ** 2)]
            cliente, fone, celular = self._client_fields(customer)

        items, net_exact = self._items(sep)
        net_cents = _round_hundred_thousandths(net_exact)

        modelo = _pick(rng, _MODELOS, _MODELO_CUMULATIVE)
        numero = (self.day_num % 1000) * 1_000_000 + seq + 1
        documento, serie, chave = self._fiscal(modelo, numero)

        roll = rng.random()
        if roll < 0.95:
            natureza, tipo = "SN01", "Venda de produtos"
        elif roll < 0.97:
            natureza, tipo = "SN02", "Venda de produtos"
        elif roll < 0.99:
            natureza, tipo = "COND", "Condicional"
        else:
            natureza, tipo = "SN99", "Outras Saidas Nao Especificadas"

        roll = rng.random()
        vendedor = "N/A" if roll < 0.05 else "0" if roll < 0.08 else rng.choice(store.sellers)
        parceiro = self._partner()

        sale: dict[str, Any] = {
            "id": sale_id,
            "cliente": cliente,
            "clientefone": fone,
            "clientecelular": celular,
            "documento": documento,
            "modelo": modelo,
            "serie": serie,
            "valor": _money(net_cents, sep),
            "movimento": "RECEITAS",
            "data": self.data,
        }
        if rng.random() < cfg.datahora_fraction:
            sale["datahora"] = f"{self.data} {at // 3600:02d}:{at // 60 % 60:02d}:{at % 60:02d}"
        sale["vendedor"] = vendedor
        sale["natureza"] = natureza
        sale["tipo"] = tipo
        sale["parceiro"] = parceiro
        sale["situacao"] = "00"
        sale["chave"] = chave
        return sale, items, net_cents

    def _client_fields(self, customer: Customer) -> tuple[str, str | None, str | None]:
        """The same person, typed a little differently at the till now and then."""
        rng = self.rng
        if rng.random() < 0.8:
            name_style = customer.name_style
        elif customer.fone or customer.celular:
            name_style = rng.choice(fake.NAME_STYLES)
        else:  # without a phone, a shortened name would make a different person
            name_style = rng.choice(fake.NAME_STYLES[:-1])
        phone_style = (
            customer.phone_style
            if rng.random() < 0.8
            else _pick(rng, fake.MOBILE_STYLES, _PHONE_STYLE_CUMULATIVE)
        )
        return (
            fake.render_name(customer.name, name_style),
            self._phone(customer.fone, phone_style),
            self._phone(customer.celular, phone_style),
        )

    def _phone(self, digits: str | None, style: str) -> str | None:
        if digits is None:
            return self.rng.choice((None, "", ""))
        if len(digits) == 10 and style not in fake.LANDLINE_STYLES:
            style = "digits"
        return fake.render_phone(digits, style)

    def _partner(self) -> str | None:
        rng = self.rng
        if rng.random() < 0.10:
            partner = rng.choice(self.store.partners)
            return fake.mask_document(partner) if rng.random() < 0.15 else partner
        roll = rng.random()
        return "N/A" if roll < 0.6 else "0" if roll < 0.85 else None

    def _fiscal(self, modelo: str, numero: int) -> tuple[str, str, str | None]:
        """documento, serie and chave: an NF-e/NFC-e key only for models 55 and 65."""
        rng = self.rng
        if modelo in ("55", "65"):
            serie = rng.randint(1, self.store.registers) if modelo == "65" else 1
            chave = fake.nfe_access_key(
                self.store.uf,
                self.yymm,
                self.store.issuer_cnpj,
                modelo,
                serie,
                numero,
                rng.randrange(100_000_000),
            )
            return str(numero), str(serie), chave
        roll = rng.random()
        chave = None if roll < 0.5 else "N/A" if roll < 0.8 else ""
        if modelo == "DV":
            return ("" if rng.random() < 0.3 else str(numero)), "0", chave
        return str(numero), ("D" if modelo == "02" else "1"), chave

    def _items(self, sep: str) -> tuple[str, int]:
        """The items as a JSON array and the exact net total in 1e-5 reais (cents × milli)."""
        rng, store = self.rng, self.store
        products = store.products
        templates = store.item_templates[sep]
        fixed_qty = store.qty_fixed_decimals
        zero = _money(0, sep)
        items = []
        net_exact = 0
        for _ in range(_pick(rng, _ITEM_COUNTS, _ITEM_COUNT_CUMULATIVE)):
            index = int(len(products) * rng.random() ** 1.8)
            product = products[index]
            if product.weighed:
                milli = rng.randint(150, 2500)
            else:
                roll = rng.random()
                milli = 1000 if roll < 0.85 else 2000 if roll < 0.95 else rng.randint(3, 6) * 1000
            gross_exact = product.price_cents * milli
            gross_cents = _round_hundred_thousandths(gross_exact)
            if rng.random() < 0.12:
                discount = gross_cents * rng.choice((5, 10, 15)) // 100
                vdesc = _money(discount, sep)
                net_exact += gross_exact - discount * 1000
            else:
                vdesc = zero
                net_exact += gross_exact
            cost = (  # a few products have no cost registered
                (product.price_cents * product.cost_per_mille * milli + 500_000) // 1_000_000 / 100
                if rng.random() < 0.98
                else 0
            )
            items.append(
                templates[index]
                % (_quantity(milli, fixed_qty, sep), _money(gross_cents, sep), vdesc, repr(cost))
            )
        return "[" + ",".join(items) + "]", net_exact


def _with_items(sale: dict[str, Any], items_json: str) -> str:
    """The sale's JSON text with the pre-encoded items spliced in as the last field."""
    return _encode(sale)[:-1] + ',"itens":' + items_json + "}"


def _separator(sale: dict[str, Any]) -> str:
    return "," if "," in sale["valor"] else "."


# -- what a request sees ---------------------------------------------------------------------


def resultado_json(
    token: str, cfg: TokenConfig, start: date, end: date, now_local: datetime
) -> str:
    """The JSON text of the ``resultado`` array served for [start, end] at ``now_local``.

    ``now_local`` is naive local (store) time: days after it have no sales yet, its own day has
    the sales up to that second, earlier days are final.
    """
    return "[" + ",".join(record_texts(token, cfg, start, end, now_local)) + "]"


def record_texts(
    token: str, cfg: TokenConfig, start: date, end: date, now_local: datetime
) -> list[str]:
    """The JSON text of each ``resultado`` record, in served order."""
    return [text for _, text in _window(token, cfg, start, end, now_local)]


def records_for_window(
    token: str, cfg: TokenConfig, start: date, end: date, now_local: datetime
) -> list[dict[str, Any]]:
    return json.loads(resultado_json(token, cfg, start, end, now_local))


def _window(
    token: str, cfg: TokenConfig, start: date, end: date, now_local: datetime
) -> list[tuple[str | None, str]]:
    """(sale id, JSON text) of every record served; injected sales have no id of ours."""
    today = now_local.date()
    now_seconds = now_local.hour * 3600 + now_local.minute * 60 + now_local.second
    served: list[tuple[str | None, str]] = []
    day = start
    while day <= end and day <= today:
        cutoff = now_seconds if day == today else DAY_SECONDS
        for rec in generate_day(token, cfg, day):
            if rec.at > cutoff:
                break
            if (
                rec.cancelled_json is not None
                and rec.cancelled_at is not None
                and rec.cancelled_at <= cutoff
            ):
                served.append((rec.sale_id, rec.cancelled_json))
            else:
                served.append((rec.sale_id, rec.json))
        day += timedelta(days=1)
    if cfg.overrides:
        served = [
            (sid, _encode(_override(json.loads(text), cfg.overrides[sid])))
            if sid in cfg.overrides
            else (sid, text)
            for sid, text in served
        ]
    for index, kind in malformed_positions(token, cfg, start, end, served).items():
        sid, text = served[index]
        served[index] = (sid, _encode(malform(json.loads(text), kind)))
    served.extend((None, _encode(s)) for s in cfg.extra_sales if _dated_within(s, start, end))
    served.extend((None, text) for text in cfg.extra_record_texts)
    return served


def malformed_positions(
    token: str, cfg: TokenConfig, start: date, end: date, served: list[tuple[str | None, str]]
) -> dict[int, str]:
    """Which records (by position) get which malformation. Only generated ids served once and
    not overridden qualify, so each malformed record is exactly one broken sale."""
    if not cfg.malformed_records or not served:
        return {}
    counts: dict[str | None, int] = {}
    for sid, _ in served:
        counts[sid] = counts.get(sid, 0) + 1
    candidates = [
        i
        for i, (sid, _) in enumerate(served)
        if sid is not None and counts[sid] == 1 and sid not in cfg.overrides
    ]
    rng = random.Random(stable_seed("malformed", token, cfg.seed_salt, start, end))
    chosen = sorted(rng.sample(candidates, min(cfg.malformed_records, len(candidates))))
    offset = rng.randrange(len(MALFORMATIONS))
    return {i: MALFORMATIONS[(offset + n) % len(MALFORMATIONS)] for n, i in enumerate(chosen)}


def malformed_ids(
    token: str, cfg: TokenConfig, start: date, end: date, now_local: datetime
) -> dict[str, str]:
    """Sale id -> malformation, for the response [start, end] would get at ``now_local``."""
    clean = dataclasses.replace(cfg, malformed_records=0, extra_sales=[], extra_record_texts=[])
    served = _window(token, clean, start, end, now_local)
    positions = malformed_positions(token, cfg, start, end, served)
    return {str(served[i][0]): kind for i, kind in positions.items()}


def malform(sale: dict[str, Any], kind: str) -> dict[str, Any]:
    bad = dict(sale)
    items = [dict(item) for item in sale["itens"]]
    bad["itens"] = items
    if kind == "missing_valor":
        del bad["valor"]
    elif kind == "valor_not_a_number":
        bad["valor"] = "abc"
    elif kind == "valor_nan":
        bad["valor"] = "NaN"
    elif kind == "negative_qtde":
        items[0]["qtde"] = "-1"
    elif kind == "impossible_data":
        bad["data"] = "2026-13-45"
        bad.pop("datahora", None)
    elif kind == "item_missing_codigo":
        del items[0]["codigo"]
    elif kind == "itens_not_a_list":  # what PHP emits for an array with non-sequential keys
        bad["itens"] = {str(n): item for n, item in enumerate(items, start=1)}
    else:
        raise ValueError(f"unknown malformation {kind!r}")
    return bad


def _override(sale: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    new = dict(sale)
    for key, value in fields.items():
        if value == REMOVE_FIELD:
            new.pop(key, None)
        else:
            new[key] = value
    return new


def _dated_within(sale: Any, start: date, end: date) -> bool:
    """Injected sales follow their ``data`` when it is a real date; otherwise always served."""
    if not isinstance(sale, dict):
        return True
    try:
        day = datetime.strptime(str(sale.get("data")), "%d/%m/%Y").date()
    except ValueError:
        return True
    return start <= day <= end
