"""Every process on a store must hold its secret key: one with another key refuses to start
instead of failing the others' work as unreadable."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connectord.runtime.config import ConfigurationError
from connectord.runtime.key_check import check_secret_key
from connectord.runtime.secrets import SecretBox
from connectord.runtime.store.sqlite import SQLiteStore


def test_a_process_with_another_key_is_refused_and_a_rotation_is_followed(tmp_path: Path) -> None:
    old, new, stranger = (Fernet.generate_key() for _ in range(3))
    store = SQLiteStore(tmp_path / "s.sqlite3")
    try:
        check_secret_key(store, SecretBox([old]))  # the first process sets the check value
        check_secret_key(store, SecretBox([old]))
        with pytest.raises(ConfigurationError, match="sealed with another secret key") as refused:
            check_secret_key(store, SecretBox([stranger]))
        assert stranger.decode() not in str(refused.value) and old.decode() not in str(refused.value)
        check_secret_key(store, SecretBox([new, old]))  # rotation: the new key first, the old listed
        check_secret_key(store, SecretBox([new]))  # resealed with the new key at the last start
        with pytest.raises(ConfigurationError):
            check_secret_key(store, SecretBox([old]))
    finally:
        store.close()
