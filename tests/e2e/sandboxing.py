"""The sandbox configuration every server and command of these tests runs with: the
defaults, but for pytest's temporary directories, where tests hand connectors files
(Landlock lets a connector touch nothing else, and /tmp is emptied for it)."""

from __future__ import annotations

from pathlib import Path

from tests import conftest

TEST_TEMP = Path(conftest.TEST_TEMP)


def sandbox_config() -> dict[str, str]:
    """Environment variables pointing a connectord process at that configuration."""
    config = TEST_TEMP / "connectord-tests.toml"
    if not config.exists():
        TEST_TEMP.mkdir(exist_ok=True)
        config.write_text(f'[sandbox.default.limits]\nwritable_paths = ["{TEST_TEMP}"]\n')
    return {"CONNECTORD_CONFIG": str(config)}
