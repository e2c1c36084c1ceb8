import hashlib
import re
import traceback
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connectord.runtime.config import ConfigurationError
from connectord.runtime.secrets import (
    KEY_FILE,
    MASK,
    SecretBox,
    SecretsError,
    hash_api_key,
    load_secret_box,
    mask,
    new_api_key,
    unmask,
)
from connectord.sandbox import redact


def key() -> str:
    return Fernet.generate_key().decode()


def not_in_traceback(exc: BaseException, *secrets: str) -> bool:
    """Whether none of the secrets shows in the printed traceback, chained exceptions included."""
    printed = "".join(traceback.format_exception(exc))
    return not any(secret in printed for secret in secrets)


# --- SecretBox ---------------------------------------------------------------------------


def test_seal_then_open_round_trips_and_the_token_hides_the_plaintext() -> None:
    box = SecretBox([key()])
    token = box.seal(b"hunter22-password")
    assert b"hunter22" not in token
    assert box.open(token) == b"hunter22-password"


def test_sealing_twice_gives_different_tokens() -> None:
    box = SecretBox([key()])
    assert box.seal(b"same") != box.seal(b"same")


def test_json_round_trip() -> None:
    box = SecretBox([key()])
    value = {"user": "bob", "password": "pw-1234", "port": 5432, "tls": True, "tags": ["a"]}
    assert box.open_json(box.seal_json(value)) == value


def test_data_sealed_with_an_old_key_opens_after_a_new_key_is_put_first() -> None:
    old, new = key(), key()
    token = SecretBox([old]).seal(b"secret")
    rotated = SecretBox([new, old])
    assert rotated.open(token) == b"secret"
    # New data is sealed with the new key: a box without the old key opens it.
    assert SecretBox([new]).open(rotated.seal(b"fresh")) == b"fresh"
    with pytest.raises(SecretsError):
        SecretBox([old]).open(rotated.seal(b"fresh"))


def test_reseal_moves_a_token_to_the_current_key_so_the_old_key_can_go() -> None:
    old, new = key(), key()
    token = SecretBox([old]).seal(b"secret")
    resealed = SecretBox([new, old]).reseal(token)
    assert SecretBox([new]).open(resealed) == b"secret"


def test_a_token_from_an_unknown_key_raises_without_secrets_in_the_message() -> None:
    sealing_key, other_key = key(), key()
    token = SecretBox([sealing_key]).seal(b"top-secret-plaintext")
    with pytest.raises(SecretsError, match="sealed with a key that is not configured") as info:
        SecretBox([other_key]).open(token)
    message = str(info.value)
    for secret in (sealing_key, other_key, "top-secret-plaintext", token.decode()):
        assert secret not in message
    assert not_in_traceback(info.value, sealing_key, other_key, "top-secret-plaintext")


def test_a_tampered_token_raises_secrets_error() -> None:
    box = SecretBox([key()])
    token = bytearray(box.seal(b"data"))
    token[-5] = ord("A") if token[-5] != ord("A") else ord("B")
    with pytest.raises(SecretsError):
        box.open(bytes(token))
    with pytest.raises(SecretsError):
        box.open(b"not a token at all")


def test_open_json_of_non_json_data_raises_without_the_plaintext() -> None:
    box = SecretBox([key()])
    with pytest.raises(SecretsError, match="not JSON") as info:
        box.open_json(box.seal(b"plain-secret{"))
    assert "plain-secret" not in str(info.value)
    with pytest.raises(SecretsError, match="not an object") as info:
        box.open_json(box.seal(b'["plain-secret"]'))
    assert "plain-secret" not in str(info.value)


def test_a_box_needs_a_valid_key() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        SecretBox([])
    with pytest.raises(ValueError):
        SecretBox(["not-a-key"])


# --- load_secret_box with CONNECTORD_SECRET_KEY -------------------------------------------


def test_a_configured_key_is_used_and_no_key_file_is_written(tmp_path: Path) -> None:
    configured = key()
    box = load_secret_box(tmp_path, configured)
    assert SecretBox([configured]).open(box.seal(b"x")) == b"x"
    assert not (tmp_path / KEY_FILE).exists()


def test_configured_keys_are_comma_separated_and_the_first_seals(tmp_path: Path) -> None:
    current, previous = key(), key()
    box = load_secret_box(tmp_path, f" {current} , {previous} ")
    assert box.open(SecretBox([previous]).seal(b"old")) == b"old"
    assert SecretBox([current]).open(box.seal(b"new")) == b"new"


@pytest.mark.parametrize(
    "bad",
    [
        "s3cr3t-not-a-fernet-key",
        Fernet.generate_key().decode().rstrip("="),  # padding dropped
        key()[:10] + "!" + key()[10:],  # Fernet() alone accepts this: base64 skips the '!'
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5eg==",  # too long
    ],
)
def test_a_malformed_configured_key_names_the_setting_not_the_value(tmp_path: Path, bad: str) -> None:
    good = key()
    with pytest.raises(ConfigurationError) as info:
        load_secret_box(tmp_path, f"{good},{bad}")
    message = str(info.value)
    assert "CONNECTORD_SECRET_KEY" in message
    assert "key 2 of 2" in message
    assert not_in_traceback(info.value, bad, good)


def test_a_configured_value_of_only_commas_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="CONNECTORD_SECRET_KEY holds no key"):
        load_secret_box(tmp_path, " , ,")


def test_a_blank_configured_value_means_the_key_file(tmp_path: Path) -> None:
    load_secret_box(tmp_path, "  ")
    assert (tmp_path / KEY_FILE).is_file()


# --- API keys ---------------------------------------------------------------------------


def test_new_api_keys_are_prefixed_long_urlsafe_and_unique() -> None:
    keys = {new_api_key() for _ in range(200)}
    assert len(keys) == 200
    for api_key in keys:
        assert re.fullmatch(r"cdk_[A-Za-z0-9_-]{43}", api_key)


def test_hash_api_key_is_sha256_hex_and_deterministic() -> None:
    api_key = new_api_key()
    assert hash_api_key(api_key) == hashlib.sha256(api_key.encode()).hexdigest()
    assert hash_api_key(api_key) == hash_api_key(api_key)
    assert hash_api_key(api_key) != hash_api_key(new_api_key())
    assert api_key not in hash_api_key(api_key)


def test_mask_is_the_redaction_mask() -> None:
    assert MASK == redact.MASK == "**********"


def test_mask_replaces_present_secret_fields_of_any_type_and_keeps_the_rest() -> None:
    stored = {"user": "bob", "password": "pw-1234", "pin": 1234, "token": None}
    masked = mask(stored, ["password", "pin", "token", "api_key"])
    assert masked == {"user": "bob", "password": MASK, "pin": MASK, "token": MASK}
    assert stored["password"] == "pw-1234"  # the input is left alone


def test_unmask_restores_masked_secrets_and_keeps_new_values() -> None:
    stored = {"user": "bob", "password": "old-pw", "api_key": "old-key"}
    incoming = {"user": "bob", "password": MASK, "api_key": "new-key"}
    result = unmask(incoming, stored, ["password", "api_key"])
    assert result == {"user": "bob", "password": "old-pw", "api_key": "new-key"}
    assert incoming["password"] == MASK  # the input is left alone


@pytest.mark.parametrize(
    ("incoming", "changed"),
    [
        ({"url": "https://evil.example", "user": "bob", "password": MASK}, "'url'"),
        ({"url": "https://shop.example", "user": "alice", "password": MASK, "pin": "new"}, "'user'"),
        ({"url": "https://shop.example", "password": MASK}, "'user'"),  # dropped
        ({"url": "https://shop.example", "user": "bob", "port": 1, "password": MASK}, "'port'"),  # added
        ({"url": ["https://shop.example"], "user": "bob", "password": MASK}, "'url'"),
    ],
)
def test_a_masked_secret_is_refused_when_another_field_changes(incoming: dict, changed: str) -> None:
    """Else the stored secret would go wherever the new fields point (a host of the
    sender's choosing); the error names the secret and the changed field, never a value."""
    stored = {"url": "https://shop.example", "user": "bob", "password": "pw-1234", "pin": "0000"}
    with pytest.raises(SecretsError, match="secrets must be sent again") as raised:
        unmask(incoming, stored, ["password", "pin"])
    assert raised.value.field == "password"
    assert changed in str(raised.value)
    assert "pw-1234" not in str(raised.value) and "evil" not in str(raised.value)
    sent_again = incoming | {"password": "pw-5678"}  # every secret sent again: the change goes through
    assert unmask(sent_again, stored, ["password", "pin"]) == sent_again


def test_fields_are_unchanged_only_when_equal_as_json_values() -> None:
    stored = {"n": 3, "flag": True, "nested": {"a": [1, "x"]}, "password": "pw"}
    same = {"n": 3.0, "flag": True, "nested": {"a": [1, "x"]}, "password": MASK}
    assert unmask(same, stored, ["password"])["password"] == "pw"
    for name, value in (("flag", 1), ("n", "3"), ("nested", {"a": [1, "x"], "b": 1})):
        with pytest.raises(SecretsError):
            unmask(same | {name: value}, stored, ["password"])


def test_what_a_client_read_comes_back_unchanged() -> None:
    stored = {"user": "bob", "password": "pw", "pin": 1234, "token": None}
    fields = ["password", "pin", "token"]
    assert unmask(mask(stored, fields), stored, fields) == stored


def test_a_mask_for_a_field_with_no_stored_value_is_refused_naming_the_field() -> None:
    with pytest.raises(SecretsError, match="'password'") as raised:
        unmask({"password": MASK}, {"user": "bob"}, ["password"])
    assert raised.value.field == "password"


def test_only_the_exact_mask_of_a_secret_field_is_replaced() -> None:
    stored = {"password": "old-pw", "note": "n"}
    incoming = {"password": MASK + "x", "note": MASK}
    # A value that merely contains the mask is a new secret; a non-secret field is not touched.
    assert unmask(incoming, stored, ["password"]) == incoming
    assert unmask({"password": MASK}, {}, []) == {"password": MASK}
