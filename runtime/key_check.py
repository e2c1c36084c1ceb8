"""Every process on a store must hold the key its secrets were sealed with.

A node started with another key would accept work it cannot run for anyone else, and fail
what others sealed as unreadable. So the store keeps a check value sealed with the current
key, and a process whose keys cannot open it refuses to start. It is resealed at every
start, so it follows a key rotation (new key first, old one still listed).
"""

from __future__ import annotations

from connectord.runtime.config import ConfigurationError
from connectord.runtime.secrets import SecretBox, SecretsError
from connectord.runtime.store import Store

SETTING = "secret-key-check"
CHECK_VALUE = b"connectord secret key check"


def check_secret_key(store: Store, box: SecretBox) -> None:
    """Raise ConfigurationError when ``box`` cannot open what this store was sealed with."""
    sealed = box.seal(CHECK_VALUE)
    stored = store.add_setting(SETTING, sealed)  # of two first processes, one sets it
    try:
        box.open(stored)
    except SecretsError:
        raise ConfigurationError(
            f"store {store.url}: its secrets were sealed with another secret key than this "
            "process has; give every process on this store the same CONNECTORD_SECRET_KEY "
            "(or the same secret.key file)"
        ) from None
    if stored != sealed:
        store.put_setting(SETTING, sealed)  # follow a rotation: sealed with the current key
