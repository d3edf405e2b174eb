"""A day's products: each code once, described as on its first line in (sale id, line) order."""

from __future__ import annotations

import dataclasses
import random

from recompra_pipelines.domain.sales import first_line_per_product
from recompra_pipelines_tests.connectors.test_online_software_repeated_ids import sale


def with_items(external_id: str, *described: tuple[str, str]):
    template = sale(external_id, "24.25").sale
    item = template.items[0]
    items = tuple(
        dataclasses.replace(item, line=line, product_code=code, description=description)
        for line, (code, description) in enumerate(described, start=1)
    )
    return dataclasses.replace(template, items=items)


def test_the_first_line_describes_the_product_whatever_the_erp_order():
    day = [
        with_items("20", ("P1", "later sale"), ("P2", "only one")),
        with_items("10", ("P3", "first line"), ("P1", "first sale, second line")),
        with_items("10b", ("P1", "another")),
    ]
    for _ in range(5):
        random.shuffle(day)
        products = {i.product_code: i.description for i in first_line_per_product(day)}
        assert products == {
            "P1": "first sale, second line",
            "P2": "only one",
            "P3": "first line",
        }
