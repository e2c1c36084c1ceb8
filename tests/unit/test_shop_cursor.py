"""The select_model cursor: opaque, round-trips, and refuses what it did not issue."""

from __future__ import annotations

import base64

import pytest

from connectord.connectors.shop.cursor import InvalidCursorError, decode_cursor, encode_cursor


def test_round_trip() -> None:
    assert decode_cursor(encode_cursor(3, 50, "phone"), "phone") == (3, 50)
    assert decode_cursor(encode_cursor(2, 100, None), None) == (2, 100)


def test_it_is_opaque_and_url_safe() -> None:
    cursor = encode_cursor(2, 100, "Phones & Tablets/secret plans?")
    assert cursor.isascii() and not set(cursor) & set("+/=&? ")
    assert "Phones" not in cursor and "Phones" not in base64.urlsafe_b64decode(cursor + "==").decode()


def test_an_empty_search_is_no_search() -> None:
    assert decode_cursor(encode_cursor(2, 10, ""), None) == (2, 10)


def test_a_cursor_of_another_search_is_refused() -> None:
    with pytest.raises(InvalidCursorError, match="different search"):
        decode_cursor(encode_cursor(2, 10, "phone"), "laptop")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "",
        "!!!",
        base64.urlsafe_b64encode(b'{"page": 2}').decode(),
        base64.urlsafe_b64encode(b'[1,2,500,""]').decode(),  # page size beyond WooCommerce's
        base64.urlsafe_b64encode(b'[1,0,10,""]').decode(),
        base64.urlsafe_b64encode(b'[9,2,10,""]').decode(),  # unknown version
    ],
)
def test_a_cursor_it_did_not_issue_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor, None)
