"""The demo shop's catalogue: categories, global attributes with terms, and products.

Everything is derived from ``taxonomy.py`` and a seed, so two shops built with the same
seed are identical (tests rely on ids and names) and the seed only varies the products.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property, lru_cache

from connectord.connectors.shop.demo.taxonomy import ATTRIBUTES, TREE

#: WooCommerce creates "Uncategorized" as term 15 on install; later terms count up from it.
UNCATEGORIZED_ID = 15
FIRST_PRODUCT_ID = 1001
MAX_PRODUCTS_PER_LEAF = 3
ADJECTIVES = ("Classic", "Essential", "Pro", "Premium", "Eco", "Compact", "Deluxe", "Everyday",
              "Ultra", "Signature", "Lite", "Max")
PRODUCTS_SINCE = datetime(2023, 1, 1, 9, 0)


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    slug: str
    parent: int  # 0 for a top-level category, as in WordPress
    description: str
    count: int  # products directly in the category, as WordPress counts terms
    attribute_ids: tuple[int, ...]  # declared here; ancestors' attributes apply as well


@dataclass(frozen=True)
class Term:
    id: int
    name: str
    slug: str
    menu_order: int
    count: int


@dataclass(frozen=True)
class Attribute:
    id: int
    name: str
    slug: str  # with WooCommerce's "pa_" prefix
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Product:
    id: int
    name: str
    slug: str
    sku: str
    category_id: int
    regular_price: str
    sale_price: str
    stock_quantity: int
    created: datetime
    attributes: tuple[tuple[int, str], ...]  # (attribute id, term name)


@dataclass(frozen=True)
class Catalogue:
    categories: tuple[Category, ...]
    attributes: tuple[Attribute, ...]
    products: tuple[Product, ...]

    @cached_property
    def _category_by_id(self) -> dict[int, Category]:
        return {c.id: c for c in self.categories}

    @cached_property
    def _children(self) -> dict[int, list[int]]:
        children: dict[int, list[int]] = {}
        for c in self.categories:
            children.setdefault(c.parent, []).append(c.id)
        return children

    @cached_property
    def _attribute_by_id(self) -> dict[int, Attribute]:
        return {a.id: a for a in self.attributes}

    def category(self, category_id: int) -> Category | None:
        return self._category_by_id.get(category_id)

    def attribute(self, attribute_id: int) -> Attribute | None:
        return self._attribute_by_id.get(attribute_id)

    def children(self, category_id: int) -> list[int]:
        return self._children.get(category_id, [])

    def lineage(self, category_id: int) -> list[Category]:
        """The category and its ancestors, root first."""
        chain: list[Category] = []
        current = self.category(category_id)
        while current is not None:
            chain.append(current)
            current = self.category(current.parent)
        return chain[::-1]

    def path(self, category_id: int) -> str:
        return " > ".join(c.name for c in self.lineage(category_id))

    def subtree(self, category_id: int) -> set[int]:
        """The category and all its descendants (what WooCommerce's product filter matches)."""
        found: set[int] = set()
        todo = [category_id]
        while todo:
            current = todo.pop()
            found.add(current)
            todo.extend(self.children(current))
        return found

    def applicable_attributes(self, category_id: int) -> tuple[Attribute, ...]:
        """Attributes declared on the category or any ancestor, root's first, each once."""
        ids = dict.fromkeys(a for c in self.lineage(category_id) for a in c.attribute_ids)
        return tuple(self._attribute_by_id[a] for a in ids)


@lru_cache(maxsize=8)  # immutable, so apps and tests with the same seed may share one
def build_catalogue(seed: int = 7) -> Catalogue:
    attribute_ids = {slug: i for i, (slug, _, _) in enumerate(ATTRIBUTES, start=1)}
    categories = _categories(TREE, attribute_ids)
    attributes = _attributes(attribute_ids, first_term_id=categories[-1].id + 1)
    draft = Catalogue(categories, attributes, ())
    products = tuple(_products(draft, random.Random(seed)))
    return _with_counts(draft, products)


def slugify(name: str) -> str:
    """Roughly WordPress's sanitize_title: lowercase ASCII words joined by dashes."""
    text = re.sub(r"[^a-z0-9 _-]", "", name.lower().replace("&", " "))
    return re.sub(r"[\s_-]+", "-", text).strip("-")


# --- tree ----------------------------------------------------------------------------------

_ITEM = re.compile(r"^\s*(?P<name>[^\[\]]+?)\s*(?:\[(?P<attrs>[^\]]*)\])?\s*$")


@dataclass(frozen=True)
class _Node:
    name: str
    attributes: tuple[str, ...]
    parent: int | None  # index of the parent node in the parsed list


def parse_tree(text: str) -> list[_Node]:
    """Departments, each followed by its categories, each followed by its subcategories."""
    nodes: list[_Node] = []
    department = category = 0
    for line in filter(str.strip, text.splitlines()):
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            department = len(nodes)
            nodes.append(_parse_item(line, None))
            continue
        subs = line
        if indent == 2:
            head, _, subs = line.partition(":")
            category = len(nodes)
            nodes.append(_parse_item(head, department))
        nodes.extend(_parse_item(s, category) for s in subs.split(",") if s.strip())
    return nodes


def _parse_item(text: str, parent: int | None) -> _Node:
    match = _ITEM.match(text)
    if match is None:
        raise ValueError(f"bad taxonomy entry: {text!r}")
    return _Node(match["name"], tuple((match["attrs"] or "").split()), parent)


def _categories(text: str, attribute_ids: dict[str, int]) -> tuple[Category, ...]:
    nodes = parse_tree(text)
    ids = [UNCATEGORIZED_ID + 1 + i for i in range(len(nodes))]
    slugs: dict[int, str] = {UNCATEGORIZED_ID: "uncategorized"}
    parents: dict[int, int] = {UNCATEGORIZED_ID: 0}
    result = [Category(UNCATEGORIZED_ID, "Uncategorized", "uncategorized", 0, "", 0, ())]
    for node, cid in zip(nodes, ids, strict=True):
        parent = 0 if node.parent is None else ids[node.parent]
        parents[cid] = parent
        slugs[cid] = _unique_slug(slugify(node.name), _ancestor_slugs(parent, parents, slugs),
                                  set(slugs.values()))
        attrs = tuple(attribute_ids[a] for a in node.attributes)  # KeyError = typo in TREE
        description = f"Shop {node.name} at the demo shop." if parent == 0 else ""
        result.append(Category(cid, node.name, slugs[cid], parent, description, 0, attrs))
    return tuple(result)


def _ancestor_slugs(parent: int, parents: dict[int, int], slugs: dict[int, str]) -> Iterator[str]:
    while parent:
        yield slugs[parent]
        parent = parents[parent]


def _unique_slug(slug: str, ancestor_slugs: Iterable[str], taken: set[str]) -> str:
    """WordPress's wp_unique_term_slug: append ancestors' slugs, then a number."""
    candidate = slug
    for ancestor in ancestor_slugs:
        if candidate not in taken:
            return candidate
        candidate = f"{candidate}-{ancestor}"
    number = 2
    base = candidate
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


# --- attributes ----------------------------------------------------------------------------

def _attributes(attribute_ids: dict[str, int], first_term_id: int) -> tuple[Attribute, ...]:
    # Attribute terms share WordPress's term id sequence with categories, after them.
    result: list[Attribute] = []
    term_id = first_term_id
    for slug, name, term_names in ATTRIBUTES:
        terms: list[Term] = []
        for order, term_name in enumerate(term_names):
            terms.append(Term(term_id, term_name, slugify(term_name) or str(term_id), order, 0))
            term_id += 1
        result.append(Attribute(attribute_ids[slug], name, f"pa_{slug}", tuple(terms)))
    return tuple(result)


# --- products ------------------------------------------------------------------------------

def _products(catalogue: Catalogue, rng: random.Random) -> Iterator[Product]:
    product_id = FIRST_PRODUCT_ID
    for category in catalogue.categories:
        if catalogue.children(category.id) or category.id == UNCATEGORIZED_ID:
            continue  # products live in the leaves, as most shops file them
        for _ in range(rng.randint(0, MAX_PRODUCTS_PER_LEAF)):
            yield _product(rng, product_id, category, catalogue.applicable_attributes(category.id))
            product_id += 1


def _product(
    rng: random.Random, product_id: int, category: Category, attributes: tuple[Attribute, ...]
) -> Product:
    values = tuple((a.id, rng.choice(a.terms).name) for a in attributes)
    brand = next((v for (_, v), a in zip(values, attributes, strict=True) if a.slug == "pa_brand"),
                 None)
    model = f"{rng.choice(ADJECTIVES)} {rng.choice('ABCDEFHKLMNPRSTVXZ')}{rng.randint(10, 999)}"
    name = f"{brand or category.name} {model}"
    cents = rng.randint(3, 599) * 100 + rng.choice((0, 49, 99))
    on_sale = rng.random() < 0.2
    return Product(
        id=product_id,
        name=name,
        slug=f"{slugify(name)}-{product_id}",
        sku=f"DS-{product_id:05d}",
        category_id=category.id,
        regular_price=f"{cents / 100:.2f}",
        sale_price=f"{cents * 0.8 / 100:.2f}" if on_sale else "",
        stock_quantity=rng.randint(0, 120),
        created=PRODUCTS_SINCE + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60)),
        attributes=values,
    )


def _with_counts(draft: Catalogue, products: tuple[Product, ...]) -> Catalogue:
    per_category: dict[int, int] = {}
    per_term: dict[tuple[int, str], int] = {}
    for p in products:
        per_category[p.category_id] = per_category.get(p.category_id, 0) + 1
        for key in p.attributes:
            per_term[key] = per_term.get(key, 0) + 1
    categories = tuple(replace(c, count=per_category.get(c.id, 0)) for c in draft.categories)
    attributes = tuple(
        replace(a, terms=tuple(replace(t, count=per_term.get((a.id, t.name), 0)) for t in a.terms))
        for a in draft.attributes
    )
    return Catalogue(categories, attributes, products)
