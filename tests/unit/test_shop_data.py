"""The demo shop's catalogue: deterministic, the promised size and shape, consistent."""

from __future__ import annotations

from collections import Counter

from connectord.connectors.shop.demo.data import (
    UNCATEGORIZED_ID,
    Catalogue,
    build_catalogue,
    parse_tree,
    slugify,
)


def by_path(catalogue: Catalogue, path: str) -> int:
    return next(c.id for c in catalogue.categories if catalogue.path(c.id) == path)


def test_the_same_seed_builds_the_same_catalogue() -> None:
    build_catalogue.cache_clear()
    first = build_catalogue(7)
    build_catalogue.cache_clear()
    assert build_catalogue(7) == first


def test_the_seed_varies_the_products_only() -> None:
    one, other = build_catalogue(7), build_catalogue(8)
    assert [(c.id, c.name, c.slug, c.parent) for c in one.categories] == [
        (c.id, c.name, c.slug, c.parent) for c in other.categories
    ]
    assert one.attributes[0].name == other.attributes[0].name
    assert [p.name for p in one.products] != [p.name for p in other.products]


def test_several_hundred_categories_on_three_levels() -> None:
    catalogue = build_catalogue()
    assert 300 <= len(catalogue.categories) <= 600
    depths = Counter(len(catalogue.lineage(c.id)) for c in catalogue.categories)
    assert set(depths) == {1, 2, 3}
    assert depths[1] >= 10 and depths[2] >= 50 and depths[3] >= 250


def test_ids_and_slugs_are_unique_and_parents_exist() -> None:
    catalogue = build_catalogue()
    ids = [c.id for c in catalogue.categories]
    slugs = [c.slug for c in catalogue.categories]
    assert len(set(ids)) == len(ids)
    assert len(set(slugs)) == len(slugs)
    assert all(c.parent == 0 or catalogue.category(c.parent) for c in catalogue.categories)
    assert catalogue.category(UNCATEGORIZED_ID).slug == "uncategorized"  # type: ignore[union-attr]


def test_a_repeated_name_gets_its_parents_slug_as_in_wordpress() -> None:
    catalogue = build_catalogue()
    assert catalogue.category(by_path(catalogue, "Shoes & Bags > Women's Shoes > Sneakers")).slug == (
        "sneakers"
    )
    men = catalogue.category(by_path(catalogue, "Shoes & Bags > Men's Shoes > Sneakers"))
    assert men is not None and men.slug == "sneakers-mens-shoes"


def test_attributes_are_inherited_from_ancestors_root_first() -> None:
    catalogue = build_catalogue()
    smartphones = by_path(catalogue, "Electronics > Phones & Tablets > Smartphones")
    names = [a.name for a in catalogue.applicable_attributes(smartphones)]
    assert names == ["Brand", "Color", "Storage", "Screen Size", "Connectivity", "Memory"]
    assert catalogue.applicable_attributes(UNCATEGORIZED_ID) == ()


def test_every_attribute_has_terms_with_unique_ids_and_slugs() -> None:
    catalogue = build_catalogue()
    assert len(catalogue.attributes) >= 10
    term_ids = [t.id for a in catalogue.attributes for t in a.terms]
    assert len(set(term_ids)) == len(term_ids)
    assert min(term_ids) > max(c.id for c in catalogue.categories)  # one WordPress term sequence
    for attribute in catalogue.attributes:
        assert attribute.slug.startswith("pa_") and len(attribute.terms) >= 4
        assert len({t.slug for t in attribute.terms}) == len(attribute.terms)


def test_products_sit_in_leaves_with_terms_of_their_categorys_attributes() -> None:
    catalogue = build_catalogue()
    assert 100 <= len(catalogue.products) <= 2000
    for product in catalogue.products:
        assert not catalogue.children(product.category_id)
        applicable = {a.id: a for a in catalogue.applicable_attributes(product.category_id)}
        assert [aid for aid, _ in product.attributes] == list(applicable)
        for attribute_id, value in product.attributes:
            assert value in {t.name for t in applicable[attribute_id].terms}


def test_counts_match_the_products() -> None:
    catalogue = build_catalogue()
    per_category = Counter(p.category_id for p in catalogue.products)
    assert all(c.count == per_category[c.id] for c in catalogue.categories)
    per_term = Counter(pair for p in catalogue.products for pair in p.attributes)
    for attribute in catalogue.attributes:
        assert all(t.count == per_term[(attribute.id, t.name)] for t in attribute.terms)


def test_subtree_holds_the_category_and_all_below_it() -> None:
    catalogue = build_catalogue()
    electronics = by_path(catalogue, "Electronics")
    subtree = catalogue.subtree(electronics)
    assert electronics in subtree
    assert all(catalogue.lineage(c)[0].id == electronics for c in subtree)
    assert len(subtree) == 1 + sum(1 + len(catalogue.children(c)) for c in catalogue.children(electronics))


def test_parse_tree_reads_continuation_lines_and_attributes() -> None:
    nodes = parse_tree("Dept [a b]\n  Cat [c]: One [d], Two,\n    Three\n  Other\n")
    assert [(n.name, n.attributes, n.parent) for n in nodes] == [
        ("Dept", ("a", "b"), None),
        ("Cat", ("c",), 0),
        ("One", ("d",), 1),
        ("Two", (), 1),
        ("Three", (), 1),
        ("Other", (), 0),
    ]


def test_slugify_follows_wordpress() -> None:
    assert slugify("Phones & Tablets") == "phones-tablets"
    assert slugify("Kids' Clothing") == "kids-clothing"
    assert slugify("All-in-Ones") == "all-in-ones"
