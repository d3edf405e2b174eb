"""An ERP's product catalog, as the CRM stores it: products with their catalog facts, add-on
groups, their options, and which products offer which group.

Pure data: a connector reads its catalog response into a `Catalog` (reporting the entries it
could not read, each with where it is and which field is wrong); `db.catalog` writes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class CatalogProduct:
    code: str  # products.codigo: the same code the ERP's orders give the product
    external_id: str
    active: bool
    description: str
    image_url: str | None
    price: Decimal
    unit: str
    group: str  # the catalog's category
    kind: str | None
    stock: Decimal | None


@dataclass(frozen=True)
class CatalogAddOn:
    external_id: str
    name: str
    min_options: int
    max_options: int
    active: bool


@dataclass(frozen=True)
class CatalogOption:
    add_on_external_id: str
    external_id: str
    name: str
    code: str | None
    price_delta: Decimal
    max_per_item: int
    active: bool


@dataclass(frozen=True)
class CatalogReference:
    product_code: str
    add_on_external_id: str
    order: int


@dataclass(frozen=True)
class RejectedEntry:
    """A catalog entry that could not be read: where it is, the field, and why."""

    where: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}.{self.field}: {self.reason}"


@dataclass
class Catalog:
    products: dict[str, CatalogProduct] = field(default_factory=dict)  # by code
    add_ons: dict[str, CatalogAddOn] = field(default_factory=dict)  # by external id
    options: dict[tuple[str, str], CatalogOption] = field(default_factory=dict)
    references: dict[tuple[str, str], CatalogReference] = field(default_factory=dict)
    rejected: list[RejectedEntry] = field(default_factory=list)
    combos_skipped: int = 0

    @property
    def complete(self) -> bool:
        """Every entry was read: what the catalog lacks is really gone from it."""
        return not self.rejected
