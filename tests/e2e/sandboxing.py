"""The sandbox configuration every server and command of these tests runs with: the
defaults, but for pytest's temporary directories, where tests hand connectors files
(Landlock lets a connector touch nothing else, and /tmp is emptied for it)."""

from __future__ import annotations

import getpass
import tempfile
from pathlib import Path

TEST_TEMP = Path(tempfile.gettempdir(), f"pytest-of-{getpass.getuser()}")


def sandbox_config() -> dict[str, str]:
    """Environment variables pointing a connectord process at that configuration."""
    config = TEST_TEMP / "connectord-tests.toml"
    if not config.exists():
        TEST_TEMP.mkdir(exist_ok=True)
        config.write_text(f'[sandbox.default.limits]\nwritable_paths = ["{TEST_TEMP}"]\n')
    return {"CONNECTORD_CONFIG": str(config)}
