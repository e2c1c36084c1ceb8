"""The TOML configuration file: merging per-connector tables, errors that name the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectord.runtime.config import ConfigurationError, Settings
from connectord.runtime.config_file import FILE_NAME, load_config_file, parse_config
from connectord.runtime.configured import configured
from connectord.sandbox.protocol import Limits

README = Path(__file__).resolve().parents[2] / "README.md"


def test_a_connector_table_is_merged_over_the_default() -> None:
    config = parse_config(
        {
            "sandbox": {
                "default": {
                    "limits": {"memory_bytes": 1000, "open_files": 64},
                    "timeouts": {"select_model": 5},
                },
                "connectors": {"sql": {"isolation": "pooled", "warm": True, "limits": {"open_files": 32}}},
            }
        },
        "test",
    )
    sql = config.sandbox.for_connector("sql")
    assert sql.isolation == "pooled"
    assert sql.limits == Limits(memory_bytes=1000, open_files=32)
    assert sql.timeout_for("select_model") == 5
    assert sql.warm
    shop = config.sandbox.for_connector("shop")
    assert shop.limits.open_files == 64
    assert not shop.warm  # the default: a zygote starts at its connector's first call


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"sandbox": {"grace": -1}}, "Expected `float` > 0.0 - at `$.sandbox.grace`"),
        ({"sandbox": {"concurency": 2}}, "unknown field `concurency`"),
        ({"sandbox": {"default": {"isolation": "shared"}}}, "at `$.sandbox.default.isolation`"),
        ({"sandbox": {"default": {"limits": {"open_files": 3}}}}, "`$.sandbox.default.limits.open_files`"),
        ({"sandbox": {"default": {"timeouts": {"get_meta_modl": 3}}}}, "Invalid enum value 'get_meta_modl'"),
        (
            {"sandbox": {"default": {"warm": "yes"}}},
            "Expected `bool`, got `str` - at `$.sandbox.default.warm`",
        ),
        (
            {"sandbox": {"default": {"limits": {"landlock": True, "writable_paths": ["tmp"]}}}},
            "writable_paths must be absolute paths, not 'tmp' - at `$.sandbox.default.limits`",
        ),
        (
            {"sandbox": {"connectors": {"sql": {"limits": {"readable_paths": ["srv"]}}}}},
            "readable_paths must be absolute paths, not 'srv' - at `$.sandbox.connectors[...].limits`",
        ),
        (
            {"sandbox": {"user_ids": "lots"}},
            'user_ids must be "auto", true, false or a range "START-END", not \'lots\' - at `$.sandbox`',
        ),
        ({"sandbox": {"user_ids": "5000-4000"}}, "user_ids range '5000-4000' ends before it starts"),
        ({"log_format": "xml"}, "Invalid enum value 'xml' - at `$.log_format`"),
        ({"metrics": {"token": "short"}}, "metrics.token must be at least 16 visible ASCII characters"),
        ({"metrics": {"tenant": True}}, "unknown field `tenant`"),
    ],
)
def test_bad_values_are_refused_with_their_place(raw: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        parse_config(raw, "connectord.toml")


def test_the_file_in_the_data_directory_is_optional_but_a_named_one_is_not(tmp_path: Path) -> None:
    assert load_config_file(None, tmp_path).sandbox.concurrency == 0
    (tmp_path / FILE_NAME).write_text("[sandbox]\nconcurrency = 3\n")
    assert load_config_file(None, tmp_path).sandbox.concurrency == 3
    with pytest.raises(ConfigurationError, match=r"config file .*missing\.toml: No such file"):
        load_config_file(tmp_path / "missing.toml", tmp_path)
    (tmp_path / "bad.toml").write_text("[sandbox\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_config_file(tmp_path / "bad.toml", tmp_path)


def test_the_readme_example_is_a_valid_configuration(tmp_path: Path) -> None:
    [example] = re.findall(r"```toml\n(\[sandbox\].*?)```", README.read_text(), re.S)
    (tmp_path / "example.toml").write_text(example)
    config = load_config_file(tmp_path / "example.toml", tmp_path)
    assert config.sandbox.for_connector("sql").isolation == "pooled"
    assert config.sandbox.for_connector("sql").warm


def test_logs_and_metrics_are_configured_in_the_file_unless_flags_or_the_environment_say(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        'log_format = "json"\naccess_log = false\n'
        '[metrics]\ntoken = "0123456789abcdef"\ntenant_labels = true\n'
    )
    settings, _ = configured(Settings(data_dir=tmp_path, config_file=path))
    assert (settings.log_format, settings.access_log) == ("json", False)
    assert (settings.metrics_token, settings.metrics_tenant_labels) == ("0123456789abcdef", True)
    flags = Settings(data_dir=tmp_path, config_file=path, log_format="text", metrics_token="x" * 16)
    flagged, _ = configured(flags)
    assert (flagged.log_format, flagged.metrics_token) == ("text", "x" * 16)
    assert configured(Settings(data_dir=tmp_path))[0].log_format == "text"  # no file: the default
