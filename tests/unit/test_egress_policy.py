"""The egress policy's pure logic: which addresses are refused by default and why, the
allow-list's forms, and what a refusal says."""

from __future__ import annotations

import ipaddress
import re

import pytest

from connectord.plugins.egress_policy import (
    EgressPolicy,
    EgressRefused,
    Rule,
    address_class,
    installed,
    installing,
    parse_rule,
)
from connectord.runtime.config import ConfigurationError, settings_from_env
from connectord.runtime.config_file import parse_config


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # CGNAT
        ("fd00::1", "unique-local"),
        ("fc00::1", "unique-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),  # documentation
        ("198.18.0.1", "reserved"),  # benchmarking
        ("2001:db8::1", "reserved"),
        # IPv6 forms of an IPv4 address are judged as that address
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("::127.0.0.1", "loopback"),
        ("64:ff9b::a00:1", "private"),
        # public
        ("93.184.216.34", None),
        ("8.8.8.8", None),
        ("::ffff:8.8.8.8", None),
        ("2606:4700::1111", None),
    ],
)
def test_each_address_is_classed(address: str, expected: str | None) -> None:
    assert address_class(ipaddress.ip_address(address)) == expected


def test_a_refusal_names_the_destination_and_its_class_and_how_to_allow_it() -> None:
    policy = EgressPolicy()
    with pytest.raises(EgressRefused) as refused:
        policy.check(ipaddress.ip_address("127.0.0.1"), 8080)
    assert str(refused.value) == "127.0.0.1 is a loopback address; add it to [egress] allow to permit it"
    assert refused.value.address_class == "loopback"
    named = policy.refusal(ipaddress.ip_address("::ffff:169.254.169.254"), 80, "metadata.internal")
    assert str(named) == (
        "metadata.internal resolves to 169.254.169.254, a link-local address; "
        "add 169.254.169.254 to [egress] allow to permit it"
    )
    assert "an unspecified address" in str(policy.refusal(ipaddress.ip_address("0.0.0.0"), 80))
    assert policy.refusal(ipaddress.ip_address("93.184.216.34"), 443) is None


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        ("10.0.0.0/8", Rule(network=ipaddress.ip_network("10.0.0.0/8"))),
        ("127.0.0.1", Rule(network=ipaddress.ip_network("127.0.0.1/32"))),
        ("::1", Rule(network=ipaddress.ip_network("::1/128"))),
        ("fd00::/8", Rule(network=ipaddress.ip_network("fd00::/8"))),
        ("127.0.0.1:5432", Rule(network=ipaddress.ip_network("127.0.0.1/32"), port=5432)),
        ("10.1.0.0/16:443", Rule(network=ipaddress.ip_network("10.1.0.0/16"), port=443)),
        ("[::1]:8080", Rule(network=ipaddress.ip_network("::1/128"), port=8080)),
        ("[fd00::/8]", Rule(network=ipaddress.ip_network("fd00::/8"))),
        (" DB.Internal.:5432 ", Rule(name="db.internal", port=5432)),
        ("localhost", Rule(name="localhost")),
    ],
)
def test_allow_entries_are_networks_or_names_with_an_optional_port(entry: str, rule: Rule) -> None:
    assert parse_rule(entry) == rule


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("10.0.0.1/8", "has host bits set"),
        ("999.1.1.1", "is not a network"),
        ("127.0.0.1:0", "no valid port"),
        ("127.0.0.1:http", "no valid port"),
        ("[::1", "is not [IPv6]:port"),
        ("not a host", "neither a network"),
        ("", "neither a network"),
    ],
)
def test_a_bad_allow_entry_says_what_is_wrong(entry: str, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_rule(entry)


def test_rules_allow_only_what_they_name() -> None:
    policy = EgressPolicy.parse(["127.0.0.1:5432", "10.1.0.0/16", "db.internal:6543"])
    loopback, private = ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.1.2.3")
    assert policy.refusal(loopback, 5432) is None
    assert policy.refusal(loopback, 5433) is not None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1"), 5432) is None
    assert policy.refusal(private, 1) is None
    assert policy.refusal(ipaddress.ip_address("10.2.0.1"), 1) is not None
    # a name rule allows what that name resolves to, on its port only
    assert policy.refusal(ipaddress.ip_address("10.9.9.9"), 6543, "DB.internal.") is None
    assert policy.refusal(ipaddress.ip_address("10.9.9.9"), 6543, "other.internal") is not None


def test_admit_keeps_the_allowed_addresses_and_refuses_when_none_is() -> None:
    policy = EgressPolicy()
    assert policy.admit("mixed.example", 443, ["127.0.0.1", "93.184.216.34"]) == ["93.184.216.34"]
    with pytest.raises(EgressRefused, match=r"^localhost resolves to 127\.0\.0\.1, a loopback address"):
        policy.admit("localhost", 80, ["127.0.0.1", "::1"])


def test_the_installed_policy_refuses_by_default_and_can_be_swapped() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    assert installed().refusal(loopback, 80) is not None
    with installing(EgressPolicy.parse(["127.0.0.0/8"])):
        assert installed().refusal(loopback, 80) is None
    assert installed().refusal(loopback, 80) is not None


def test_the_allow_list_is_configured_by_file_and_environment() -> None:
    config = parse_config({"egress": {"allow": ["127.0.0.1:5432", "10.0.0.0/8"]}}, "test.toml")
    assert config.egress.allow == ["127.0.0.1:5432", "10.0.0.0/8"]
    with pytest.raises(ConfigurationError, match=r"test.toml: '10.0.0.1/8' is not a network.*egress"):
        parse_config({"egress": {"allow": ["10.0.0.1/8"]}}, "test.toml")
    env = {"CONNECTORD_EGRESS_ALLOW": " 127.0.0.1:8080, [::1]:8080 ", "HOME": "/nowhere"}
    assert settings_from_env(env).egress_allow == ("127.0.0.1:8080", "[::1]:8080")
    assert settings_from_env({"HOME": "/nowhere"}).egress_allow == ()
    with pytest.raises(ConfigurationError, match=r"^CONNECTORD_EGRESS_ALLOW: 'x:99999' has no valid port"):
        settings_from_env({"CONNECTORD_EGRESS_ALLOW": "x:99999", "HOME": "/nowhere"})
