"""Secrets at rest and API keys: the key that encrypts stored credentials, API key hashes,
and masking of secret credential fields in API responses.

Stored secrets are sealed with Fernet (authenticated encryption from ``cryptography``), never
with hand-written crypto. The key comes from the setting ``CONNECTORD_SECRET_KEY`` or, when it
is unset, from the file ``secret.key`` in the data directory, which is created on first use.
Several keys may be given so that a key can be rotated: the first seals, every one opens.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from connectord.plugins.server_errors import Internal
from connectord.runtime.config import ENV_PREFIX, ConfigurationError
from connectord.sandbox.redact import MASK, holds_masked_url, masked_urls

__all__ = [
    "API_KEY_PREFIX",
    "KEY_FILE",
    "MASK",
    "SECRET_KEY_SETTING",
    "SecretBox",
    "SecretsError",
    "changed_fields",
    "hash_api_key",
    "load_secret_box",
    "mask",
    "new_api_key",
    "same_json",
    "unmask",
]

SECRET_KEY_SETTING = ENV_PREFIX + "SECRET_KEY"
#: The key file in the data directory, used when ``CONNECTORD_SECRET_KEY`` is unset.
KEY_FILE = "secret.key"
API_KEY_PREFIX = "cdk_"

# What Fernet.generate_key() prints: 32 bytes in urlsafe base64 with its one padding '='.
# Checked before Fernet() because base64 decoding silently skips stray characters, so a
# mistyped key could otherwise be accepted as a different key.
_FERNET_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")
_MAKE_KEY_HINT = (
    "make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


class SecretsError(Internal):
    """Sealed data cannot be opened, or a masked value cannot be restored.

    Messages never contain key material or plaintext: they may reach logs and API responses.
    """


class SecretBox:
    """Seals and opens data with one or more Fernet keys.

    The first key seals; every key opens. Putting a new key first and keeping the old ones
    after it rotates the key without making stored data unreadable; ``reseal`` moves a token
    to the current key so that an old key can later be dropped.
    """

    def __init__(self, keys: Sequence[bytes | str]) -> None:
        if not keys:
            raise ValueError("a SecretBox needs at least one key")
        # Fernet() raises ValueError without echoing the key when one is malformed.
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        current = keys[0].encode() if isinstance(keys[0], str) else keys[0]
        #: For keyed digests (HMAC) of what must not be guessable from the store (request
        #: bodies holding credentials); derived from, never equal to, the current key.
        self.digest_key = hashlib.sha256(b"connectord digest key\0" + current).digest()

    def seal(self, data: bytes) -> bytes:
        """Encrypt and authenticate ``data`` with the current key."""
        return self._fernet.encrypt(data)

    def open(self, token: bytes) -> bytes:
        """The data ``seal`` was given; ``SecretsError`` if no key opens it or it was altered."""
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            # Fernet cannot tell a wrong key from tampering: both fail the same MAC check.
            raise SecretsError(
                "sealed data cannot be opened: it was sealed with a key that is not configured "
                f"(check {SECRET_KEY_SETTING} or the key file), or it is corrupt"
            ) from None

    def reseal(self, token: bytes) -> bytes:
        """The same data sealed with the current key, for rotating stored data to a new key."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise SecretsError("sealed data cannot be resealed: no configured key opens it") from None

    def seal_json(self, value: Any) -> bytes:
        """Seal a value that encodes as a JSON object (credentials, params, webhooks)."""
        return self.seal(msgspec.json.encode(value))

    def open_json(self, token: bytes) -> dict[str, Any]:
        """The object ``seal_json`` was given."""
        data = self.open(token)
        try:
            return msgspec.json.decode(data, type=dict[str, Any])
        except msgspec.DecodeError:  # a ValidationError (not an object) too
            # The plaintext is deliberately left out: it is a secret even when it is not JSON.
            raise SecretsError("sealed data was opened but is not JSON, or not an object") from None


def load_secret_box(data_dir: Path, configured: str | None) -> SecretBox:
    """The box for stored secrets, from the setting or else from the data directory's key file.

    ``configured`` is the value of ``CONNECTORD_SECRET_KEY``: comma-separated Fernet keys, the
    current one first. When it is unset (``None`` or blank), ``<data_dir>/secret.key`` is
    read, or created with mode 0600 if absent; creating it needs a writable data directory.
    Raises ``ConfigurationError`` for a malformed key, a key file others can read, or a data
    directory where the key file cannot be created.
    """
    if configured is not None and configured.strip():
        return SecretBox(_parse_keys(configured, SECRET_KEY_SETTING))
    path = data_dir / KEY_FILE
    try:
        text = _read_key_file(path)
    except FileNotFoundError:
        text = _create_key_file(data_dir, path)
    return SecretBox(_parse_keys(text, str(path)))


def _parse_keys(text: str, source: str) -> list[str]:
    """Keys separated by commas or newlines, each checked; ``source`` names where they came from."""
    parts = [part.strip() for part in re.split(r"[,\n]", text)]
    keys = [part for part in parts if part]
    if not keys:
        raise ConfigurationError(f"{source} holds no key; {_MAKE_KEY_HINT}")
    for number, key in enumerate(keys, start=1):
        if not _FERNET_KEY.fullmatch(key):
            # Only the position is named: echoing the value would put a secret in logs.
            raise ConfigurationError(
                f"{source}: key {number} of {len(keys)} is not a Fernet key "
                f"(44 characters of urlsafe base64 ending in '='); {_MAKE_KEY_HINT}"
            )
    return keys


def _read_key_file(path: Path) -> str:
    """The key file's text; ``FileNotFoundError`` if there is none.

    Like ssh with a private key, a file readable or writable by group or others is refused
    rather than used: the key opens every stored credential.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigurationError(f"secret key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        # fstat, not stat: the mode checked is that of the file actually read, even if the
        # path is swapped in between.
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ConfigurationError(f"secret key file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise ConfigurationError(
                f"secret key file {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}"
            )
        data = file.read()
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigurationError(f"secret key file {path} is not a key file; {_MAKE_KEY_HINT}") from None


def _create_key_file(data_dir: Path, path: Path) -> str:
    """Create the key file with a new key, or read the one another process created first.

    The key is written to a private temporary file which is then hard-linked to ``path``.
    ``link`` fails if ``path`` exists, so of processes starting together exactly one key
    wins and the others read it; and ``path`` never shows a half-written key, so a reader
    never mistakes a partial file for a malformed one. A malformed existing file is refused,
    not replaced: replacing it could orphan every secret sealed with the key it held.
    """
    _make_data_dir(data_dir)
    key = Fernet.generate_key()
    temp = data_dir / f".{KEY_FILE}.{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise _not_writable(data_dir, exc) from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(key + b"\n")
            file.flush()
            # Durable before it becomes visible: after a crash the key file is whole or absent.
            os.fsync(file.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # Another process won; its key is the one in use.
        except OSError as exc:
            raise _not_writable(data_dir, exc) from None
        else:
            _fsync_dir(data_dir)
    finally:
        temp.unlink(missing_ok=True)
    return _read_key_file(path)


def _make_data_dir(data_dir: Path) -> None:
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"data directory {data_dir}: {exc.strerror}") from None


def _not_writable(data_dir: Path, exc: OSError) -> ConfigurationError:
    return ConfigurationError(
        f"cannot create the secret key file in data directory {data_dir} ({exc.strerror}); "
        f"make the directory writable, or set {SECRET_KEY_SETTING}"
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_api_key() -> str:
    """A new API key: 256 random bits, prefixed so that a leaked key is recognisable."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The hash stored in place of an API key.

    A plain SHA-256 is enough: the key is 256 random bits, so there is nothing to guess and a
    slow password hash (bcrypt, scrypt) would add cost without protection. Being unsalted and
    deterministic, the hash can also be the lookup key for the request's API key.
    """
    return hashlib.sha256(key.encode()).hexdigest()


def mask(credentials: Mapping[str, Any], secret_fields: Iterable[str]) -> dict[str, Any]:
    """The credentials with the value of every secret field present replaced by ``MASK``,
    and the password in the user info of a URL in any other field too (``masked_urls``:
    ``postgresql://user:pw@host`` is shown as ``postgresql://user:MASK@host``)."""
    secret = set(secret_fields)
    return {name: MASK if name in secret else masked_urls(value) for name, value in credentials.items()}


def unmask(
    incoming: Mapping[str, Any], stored: Mapping[str, Any], secret_fields: Iterable[str]
) -> dict[str, Any]:
    """The incoming credentials with each secret field sent as ``MASK`` given its stored value.

    A client that reads an account (secrets masked) and sends it back unchanged keeps its
    secrets. A mask stands for the stored secret only while every other (non-secret) field
    is as stored: a secret kept while the URL or user it goes with changes would be sent
    wherever the new fields point, to a host of the sender's choosing, so a change of any
    other field needs every secret sent again. ``SecretsError`` (its ``field`` the secret's
    name) when a field is sent as ``MASK`` but has no stored value (storing the mask
    literally would silently replace the secret with asterisks), or when other fields
    changed.
    """
    secret = list(dict.fromkeys(secret_fields))
    incoming, urls = _with_urls_restored(incoming, stored, secret)
    masked = [name for name in secret if _is_mask(incoming.get(name))] + urls
    if not masked:
        return dict(incoming)
    for name in masked:
        if name not in stored:
            raise SecretsError(
                f"credential field {name!r} was sent masked ({MASK}) but has no stored value; "
                "send the real value",
                name,
            )
    changed = changed_fields(incoming, stored, secret)
    if changed:
        # Names only, never values: this message reaches the API's answer.
        raise SecretsError(
            f"credential field {masked[0]!r} was sent masked ({MASK}) but "
            f"{', '.join(repr(name) for name in changed)} changed: secrets must be sent again "
            "when the other credential fields change",
            masked[0],
        )
    result = dict(incoming)
    for name in masked:
        result[name] = stored[name]
    return result


def _with_urls_restored(
    incoming: Mapping[str, Any], stored: Mapping[str, Any], secret: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """``incoming`` with each non-secret field that is its stored value as ``mask`` shows
    it (a URL's password masked) given that stored value, and the names of those fields;
    SecretsError for a field that holds a masked URL but is not that: a password sent
    masked in a changed URL would otherwise be stored as asterisks."""
    restored = dict(incoming)
    names: list[str] = []
    for name, value in incoming.items():
        if name in secret or not holds_masked_url(value):
            continue
        if name not in stored or masked_urls(stored[name]) != value:
            raise SecretsError(
                f"credential field {name!r} holds a URL whose password was sent masked ({MASK}) "
                "but the URL is not the stored one: send its password again",
                name,
            )
        restored[name] = stored[name]
        names.append(name)
    return restored, names


def changed_fields(
    incoming: Mapping[str, Any], stored: Mapping[str, Any], secret_fields: Iterable[str]
) -> list[str]:
    """The non-secret fields whose value (or presence) differs between the two, sorted."""
    secret = set(secret_fields)
    names = (set(incoming) | set(stored)) - secret
    return sorted(
        name
        for name in names
        if name not in incoming or name not in stored or not same_json(incoming[name], stored[name])
    )


def _is_mask(value: Any) -> bool:
    return isinstance(value, str) and value == MASK


def same_json(a: Any, b: Any) -> bool:
    """Whether two JSON values are equal, in type as well (``True`` is not ``1``; ``1`` and
    ``1.0`` are one number, as JSON Schema has it)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b
