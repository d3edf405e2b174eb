"""CardápioWeb's catalog (`GET /api/partner/v1/catalog`) -> `domain.catalog.Catalog`.

The response is `{"categories": [{"name", "items": [...]}]}`; each item carries its price,
stock, picture, status and option groups, each group its options. As the old products sync
did, combos are skipped (a combo is not a product of its own) and a product's group is its
category's name; unlike it, a product's code follows the order mapper's rule (`product_code`),
an option group's upper limit defaults to 1 and an option's to its own `max_quantity`, and one
bad entry is reported (with its category, item and field) instead of failing the catalog."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from recompra_pipelines import json_codec
from recompra_pipelines.connectors.cardapio_web.mapper import product_code
from recompra_pipelines.connectors.errors import ErpPayloadError
from recompra_pipelines.domain.catalog import (
    Catalog,
    CatalogAddOn,
    CatalogOption,
    CatalogProduct,
    CatalogReference,
    RejectedEntry,
)
from recompra_pipelines.domain.parsing import parse_non_negative_decimal, quantize_money
from recompra_pipelines.domain.storable import QUANTITY, entry_problem

ACTIVE = "ACTIVE"
COMBO = "combo"

# Catalog fields in the response's words, to name the field of an entry the CRM cannot store.
_PRODUCT_FIELDS = {
    "code": "external_code", "external_id": "id", "description": "name",
    "image_url": "image.image_url", "unit": "unit_type", "group": "(category name)",
}  # fmt: skip
_ADD_ON_FIELDS = {
    "external_id": "id", "min_options": "minimum_quantity", "max_options": "maximum_quantity",
}  # fmt: skip
_OPTION_FIELDS = {
    "external_id": "id", "code": "external_code", "price_delta": "price",
    "max_per_item": "max_quantity",
}  # fmt: skip


class _Rejected(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def read_catalog(text: str) -> Catalog:
    """The catalog in a stored response, or ErpPayloadError when it is not a catalog at all."""
    try:
        body = json_codec.loads(text)
    except json_codec.JSONDecodeError as error:
        raise ErpPayloadError(f"catalog is not JSON ({error.msg} at char {error.pos})") from error
    if not isinstance(body, dict) or not isinstance(body.get("categories"), list):
        raise ErpPayloadError("catalog is not an object with a 'categories' list")
    catalog = Catalog()
    for position, category in enumerate(body["categories"]):
        where = f"categories[{position}]"
        if not isinstance(category, dict) or not isinstance(category.get("items"), list):
            catalog.rejected.append(RejectedEntry(where, "items", "expected a list of items"))
            continue
        group = _text(category.get("name")) or "SEM CATEGORIA"
        for index, item in enumerate(category["items"]):
            item_where = f"{where}.items[{index}]"
            if isinstance(item, dict) and item.get("id") is not None:
                item_where += f" (item {item['id']})"
            try:
                _read_item(catalog, item, group)
            except _Rejected as rejected:
                catalog.rejected.append(RejectedEntry(item_where, rejected.field, rejected.reason))
    return catalog


def _read_item(catalog: Catalog, item: Any, group: str) -> None:
    if not isinstance(item, dict):
        raise _Rejected("(item)", f"expected an object, got {type(item).__name__}")
    if item.get("kind") == COMBO:
        catalog.combos_skipped += 1
        return
    external_id = _required_text(item, "id")
    code = product_code(item.get("external_code"), external_id)
    image = item.get("image")
    product = CatalogProduct(
        code=code,
        external_id=external_id,
        active=item.get("status") == ACTIVE,
        description=_required_text(item, "name"),
        image_url=_text(image.get("image_url")) or None if isinstance(image, dict) else None,
        price=quantize_money(_amount(item, "price")),
        unit=_text(item.get("unit_type")) or "UN",
        group=group,
        kind=_text(item.get("kind")) or None,
        stock=None if item.get("stock") is None else _amount(item, "stock"),
    )
    _check_storable(product, "", _PRODUCT_FIELDS, keys=("code", "external_id"))
    groups = item.get("option_groups") or []
    if not isinstance(groups, list):
        raise _Rejected("option_groups", "expected a list")
    add_ons, options, references = [], [], []
    for g, option_group in enumerate(groups):
        prefix = f"option_groups[{g}]"
        if not isinstance(option_group, dict):
            raise _Rejected(prefix, "expected an object")
        add_on = CatalogAddOn(
            external_id=_required_text(option_group, "id", prefix),
            name=_required_text(option_group, "name", prefix),
            min_options=_count(option_group, "minimum_quantity", prefix, default=0),
            max_options=_count(option_group, "maximum_quantity", prefix, default=1),
            active=option_group.get("status") == ACTIVE,
        )
        _check_storable(add_on, prefix, _ADD_ON_FIELDS, keys=("external_id",))
        add_ons.append(add_on)
        reference = CatalogReference(
            code, add_on.external_id, _count(option_group, "index", prefix, 0)
        )
        _check_storable(reference, prefix, {"order": "index"})
        references.append(reference)
        for o, option in enumerate(option_group.get("options") or []):
            where = f"{prefix}.options[{o}]"
            if not isinstance(option, dict):
                raise _Rejected(where, "expected an object")
            option_id = _required_text(option, "id", where)
            catalog_option = CatalogOption(
                add_on_external_id=add_on.external_id,
                external_id=option_id,
                name=_required_text(option, "name", where),
                code=product_code(option.get("external_code"), option_id),
                price_delta=quantize_money(_amount(option, "price", where)),
                max_per_item=_count(option, "max_quantity", where, default=1),
                active=option.get("status") == ACTIVE,
            )
            _check_storable(catalog_option, where, _OPTION_FIELDS, keys=("external_id", "code"))
            options.append(catalog_option)
    # Read whole or not at all: an item half taken would look like one that lost its groups.
    catalog.products.setdefault(code, product)
    for add_on in add_ons:
        catalog.add_ons.setdefault(add_on.external_id, add_on)
    for option in options:
        catalog.options.setdefault((option.add_on_external_id, option.external_id), option)
    for reference in references:
        catalog.references.setdefault(
            (reference.product_code, reference.add_on_external_id), reference
        )


def _check_storable(
    entry: Any, prefix: str, names: dict[str, str], keys: tuple[str, ...] = ()
) -> None:
    """Reject the item when `entry` holds a value the CRM's columns cannot (a NUL in a name, a
    code beyond an index key, a stock beyond its precision), named in the response's words."""
    found = entry_problem(entry, keys=keys, numbers={"stock": QUANTITY})
    if found is not None:
        name, reason = found
        raise _Rejected(_field(prefix, names.get(name, name)), reason)


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value).strip()


def _required_text(entry: dict, field: str, prefix: str = "") -> str:
    value = _text(entry.get(field))
    if not value:
        raise _Rejected(_field(prefix, field), "missing")
    return value


def _amount(entry: dict, field: str, prefix: str = "") -> Decimal:
    try:
        return parse_non_negative_decimal(entry.get(field))
    except (ValueError, TypeError) as error:
        raise _Rejected(_field(prefix, field), str(error)) from None


def _count(entry: dict, field: str, prefix: str, default: int) -> int:
    value = entry.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Rejected(_field(prefix, field), f"expected a whole number >= 0, got {value!r}")
    return value


def _field(prefix: str, field: str) -> str:
    return f"{prefix}.{field}" if prefix else field
