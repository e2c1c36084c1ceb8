from pathlib import Path

import pytest

from connectord.runtime.config import ConfigurationError, settings_from_env


def test_defaults() -> None:
    settings = settings_from_env({"HOME": "/home/ann"})
    assert settings.data_dir == Path("/home/ann/.local/share/connectord")
    assert (settings.host, settings.port, settings.store_url) == ("127.0.0.1", 8080, None)
    assert settings.connectors.allow is None and settings.connectors.block == frozenset()


def test_environment_overrides() -> None:
    settings = settings_from_env(
        {
            "CONNECTORD_DATA_DIR": "/srv/c",
            "CONNECTORD_PORT": "9000",
            "CONNECTORD_CONNECTORS_ALLOW": "sql, shop",
            "CONNECTORD_CONNECTORS_BLOCK": "webservice",
            "CONNECTORD_LOG_LEVEL": "debug",
            "CONNECTORD_JOB_RETENTION": "86400",
            "CONNECTORD_NODE_ID": "eu-1",
            "CONNECTORD_LEASE_SECONDS": "5",
        }
    )
    assert settings.job_retention == 86400.0
    assert (settings.node_id, settings.lease_seconds) == ("eu-1", 5.0)
    assert settings.data_dir == Path("/srv/c") and settings.port == 9000
    assert settings.connectors.allow == {"sql", "shop"}
    assert settings.connectors.block == {"webservice"}
    assert settings.log_level == "DEBUG"
    assert (settings.log_format, settings.access_log, settings.metrics_token) == (None, True, None)
    observed = settings_from_env(
        {
            "CONNECTORD_LOG_FORMAT": "JSON",
            "CONNECTORD_ACCESS_LOG": "false",
            "CONNECTORD_METRICS_TOKEN": "t" * 16,
        }
    )
    assert (observed.log_format, observed.access_log, observed.metrics_token) == ("json", False, "t" * 16)
    assert "t" * 16 not in repr(observed)
    assert settings.with_overrides(port=1, host=None).port == 1


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("CONNECTORD_PORT", "http", "CONNECTORD_PORT must be a port number"),
        ("CONNECTORD_PORT", "70000", "between 0 and 65535"),
        ("CONNECTORD_LOG_LEVEL", "loud", "CONNECTORD_LOG_LEVEL must be one of"),
        ("CONNECTORD_JOB_RETENTION", "a month", "CONNECTORD_JOB_RETENTION"),
        ("CONNECTORD_LEASE_SECONDS", "0.5", "CONNECTORD_LEASE_SECONDS must be between 1 and 3600"),
        ("CONNECTORD_LEASE_SECONDS", "soon", "CONNECTORD_LEASE_SECONDS must be a number"),
        ("CONNECTORD_LOG_FORMAT", "xml", "CONNECTORD_LOG_FORMAT must be one of text, json"),
        ("CONNECTORD_ACCESS_LOG", "maybe", "CONNECTORD_ACCESS_LOG must be true or false"),
        ("CONNECTORD_METRICS_TOKEN", "short", "CONNECTORD_METRICS_TOKEN must be at least 16"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        settings_from_env({name: value})


def test_public_url_must_be_an_http_url() -> None:
    assert settings_from_env({"CONNECTORD_PUBLIC_URL": "https://api.example.test"}).public_url == (
        "https://api.example.test"
    )
    with pytest.raises(ConfigurationError, match="CONNECTORD_PUBLIC_URL must be an http"):
        settings_from_env({"CONNECTORD_PUBLIC_URL": "ftp://x"})


def test_connector_path_names_existing_directories_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "acme").mkdir()
    (tmp_path / "shop").mkdir()
    settings = settings_from_env({"CONNECTORD_CONNECTOR_PATH": f"acme:{tmp_path / 'shop'}:"})
    assert settings.connectors.paths == (str(tmp_path / "acme"), str(tmp_path / "shop"))
    assert settings_from_env({}).connectors.paths == ()
    with pytest.raises(ConfigurationError, match="CONNECTORD_CONNECTOR_PATH: missing is not a directory"):
        settings_from_env({"CONNECTORD_CONNECTOR_PATH": "acme:missing"})
