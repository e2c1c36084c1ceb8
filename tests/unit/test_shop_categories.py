"""Category path labels and page sizes of the categories dropdown (no shop needed)."""

from __future__ import annotations

import pytest

from connectord.connectors.shop.categories import (
    CategoryRecord,
    CategoryTree,
    page_size,
    parse_category,
)
from connectord.connectors.shop.client import Page
from connectord.connectors.shop.errors import NotAShopError


def test_labels_are_paths_and_names_are_unescaped() -> None:
    tree = CategoryTree(
        [
            parse_category({"id": 1, "name": "Food &amp; Drink", "parent": 0}),
            parse_category({"id": 2, "name": "Snacks", "parent": 1}),
            parse_category({"id": 3, "name": "Crisps", "parent": 2}),
        ]
    )
    assert tree.label(3) == "Food & Drink > Snacks > Crisps"
    assert tree.label(1) == "Food & Drink"
    assert tree.missing_parents() == set()


def test_missing_parents_are_those_not_yet_seen() -> None:
    tree = CategoryTree(
        [CategoryRecord(3, "Crisps", 2), CategoryRecord(4, "Nuts", 2), CategoryRecord(9, "Top", 0)]
    )
    assert tree.missing_parents() == {2}
    assert tree.label(3) == "Crisps"  # as far as known


def test_a_parent_cycle_does_not_loop() -> None:
    tree = CategoryTree([CategoryRecord(1, "A", 2), CategoryRecord(2, "B", 1)])
    assert len(tree.path(1)) <= 20


def test_a_record_without_id_or_name_is_not_a_shops() -> None:
    with pytest.raises(NotAShopError):
        parse_category({"name": "x"})


@pytest.mark.parametrize("limit, size", [(0, 1), (-5, 1), (1, 1), (50, 50), (100, 100), (1000, 100)])
def test_page_size_stays_within_woocommerces_bounds(limit: int, size: int) -> None:
    assert page_size(limit) == size


def test_has_more_uses_total_pages_or_a_full_page() -> None:
    assert Page([{}] * 10, 25, 3).has_more(2, 10)
    assert not Page([{}] * 5, 25, 3).has_more(3, 10)
    assert Page([{}] * 10, None, None).has_more(1, 10)  # headers stripped by a proxy
    assert not Page([{}] * 4, None, None).has_more(1, 10)
