import base64
import subprocess
import sys
from urllib.parse import quote

import pytest

from connectord.sandbox.bounds import MAX_TRACEBACK_CHARS, cut_note
from connectord.sandbox.outcomes import Rejected
from connectord.sandbox.redact import (
    MASK,
    Redactor,
    holds_masked_url,
    kept_rejection,
    masked_urls,
    secret_values,
    url_passwords,
)


def test_masks_the_value_and_its_encoded_forms() -> None:
    secret = "s3cr3t/+pass word"
    redactor = Redactor([secret])
    text = " | ".join([secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()])
    redacted = redactor.text(text)
    assert secret not in redacted
    assert quote(secret, safe="") not in redacted
    assert base64.b64encode(secret.encode()).decode() not in redacted
    assert redacted.count(MASK) == 3


def test_longer_secret_masked_whole_when_it_contains_a_shorter_one() -> None:
    redactor = Redactor(["abcd", "abcdefgh"])
    assert redactor.text("x abcdefgh y") == f"x {MASK} y"


def test_data_is_redacted_recursively_keys_included() -> None:
    redactor = Redactor(["hunter22"])
    data = {"a": ["ok", "pw=hunter22"], "hunter22": {"n": 1}}
    assert redactor.data(data) == {"a": ["ok", f"pw={MASK}"], MASK: {"n": 1}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ab cd", f"{MASK} cd"),
        ("key=ab;", f"key={MASK};"),
        ('{"token": "ab"}', f'{{"token": "{MASK}"}}'),
        ("ab_1", f"{MASK}_1"),  # _ separates tokens as . and - do
        ("tab about cab", "tab about cab"),  # inside a word: left, or no text would stay readable
        ("YWI", MASK),  # base64("ab"), a token too
        ("dTphYg==", MASK),  # base64("u:ab"), as in a Basic header: 4 characters or more, anywhere
    ],
)
def test_a_short_secret_is_masked_wherever_it_is_a_whole_token(text: str, expected: str) -> None:
    assert Redactor(["ab"], users=["u"]).text(text) == expected


def test_every_length_is_redacted_and_no_secrets_means_no_change() -> None:
    assert Redactor(["7"]).text("pin 7, not 17 or 7a") == f"pin {MASK}, not 17 or 7a"
    assert Redactor(["abc"]).data({"abc": ["x abc", "abcd"]}) == {MASK: [f"x {MASK}", "abcd"]}
    assert Redactor([""]).text("anything") == "anything"
    assert Redactor([]).data({"k": "v"}) == {"k": "v"}


def test_secret_values_takes_only_string_values_of_secret_fields() -> None:
    creds = {"user": "bob", "password": "pw-1234", "pin": 1234}
    assert secret_values(creds, ["password", "pin", "missing"]) == ["pw-1234"]


def test_a_basic_auth_header_built_from_the_credentials_is_masked() -> None:
    header = "Basic " + base64.b64encode(b"ck_user:s3cret-pass").decode()
    redactor = Redactor(["s3cret-pass"], users=["ck_user"])
    assert redactor.text(f"sent Authorization: {header}") == f"sent Authorization: Basic {MASK}"


def test_a_cut_keeps_the_limit_and_notes_it() -> None:
    assert Redactor([]).bounded("abcdef", 4) == "abcd" + cut_note("abcdef", 4)
    assert Redactor(["hunter22"]).bounded("abcd", 4) == "abcd"  # not cut: no note


def test_a_secret_split_by_the_cut_is_masked_whole_whichever_form() -> None:
    secret = "s3cr3t/+pass word"
    redactor = Redactor([secret])
    for form in (secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()):
        for before in range(1, len(form)):  # the cut falls inside the form, at every place
            text = "x" * (100 - before) + form + "y" * 50
            assert redactor.bounded(text, 100) == "x" * (100 - before) + MASK + cut_note(text, 100)


def test_masks_shortening_the_text_pull_no_partial_secret_in_front_of_the_cut() -> None:
    """A long secret masked early would let a naive cut of the redacted text reach past the
    original cut, where a secret that the searched window split in half begins."""
    secret = "long-secret-" * 4
    redactor = Redactor([secret])
    text = secret + "x" * 58 + secret[:30] + "z" * 200
    kept = redactor.bounded(text, 100)
    assert kept == MASK + "x" * 52 + cut_note(text, 100)
    assert secret[:6] not in kept


def test_the_cut_searches_only_the_window_it_keeps() -> None:
    redactor = Redactor(["hunter22"])
    text = "a" * 10 + "hunter22" + "b" * 10_000_000
    assert redactor.bounded(text, 20) == "a" * 10 + MASK + "bb" + cut_note(text, 20)


def test_a_traceback_is_kept_only_when_asked_and_then_bounded_and_redacted() -> None:
    redactor = Redactor(["hunter2-secret"])
    trace = 'File "x.py", line 3\n    raise E("hunter2-secret")\n' + "y" * 20_000
    sent = Rejected("E", "no", None, trace)
    # A worker may send a traceback unasked: connector code holds its socket.
    assert kept_rejection(sent, redactor).traceback is None
    kept = kept_rejection(sent, redactor, debug=True).traceback
    assert kept is not None and "hunter2-secret" not in kept and MASK in kept
    assert kept.endswith(cut_note(trace, MAX_TRACEBACK_CHARS))


def test_a_result_too_long_to_be_searched_for_the_calls_secrets_is_refused_never_kept_unsearched() -> None:
    """Python's ``re`` tries each form of each secret at every position, on the server's
    loop: a 15 MB result with 100 secrets held it 20 s."""
    from connectord.sandbox.outcomes import Rejected, Succeeded
    from connectord.sandbox.redact import MAX_REDACTION_WORK
    from connectord.sandbox.replies import kept_outcome

    redactor = Redactor([f"pw{i:04d}xyzsecret" for i in range(100)])
    long_text = "pw" * (MAX_REDACTION_WORK // redactor.forms)
    refused = kept_outcome(Succeeded({"data": {"text": long_text}}), redactor, "run_job")
    assert isinstance(refused, Rejected) and refused.error_type == "ResultTooLarge"
    assert "too long to be searched" in refused.message
    many = kept_outcome(
        Succeeded({"data": {"lines": ["pw" * 50] * (MAX_REDACTION_WORK // redactor.forms // 50)}}),
        redactor,
        "run_job",
    )
    assert isinstance(many, Rejected)  # many short texts add up
    kept = kept_outcome(Succeeded({"data": {"text": "a pw0007xyzsecret b"}}), redactor, "run_job")
    assert isinstance(kept, Succeeded) and kept.data["data"] == {"text": f"a {MASK} b"}
    assert Redactor([]).data({"text": long_text}) == {"text": long_text}  # nothing to search for


def test_log_lines_past_the_calls_budget_for_searching_them_are_dropped_and_counted() -> None:
    from connectord.sandbox.logs import LogCollector
    from connectord.sandbox.protocol import Log
    from connectord.sandbox.redact import MAX_REDACTION_WORK

    redactor = Redactor([f"pw{i:04d}xyzsecret" for i in range(100)])
    logs = LogCollector(redactor)
    line = "pw" * 2000
    for _ in range(1000):
        logs.add(Log("i", 0.0, 30, "connector", line))
    searched = MAX_REDACTION_WORK // ((len(line) + 200) * redactor.forms)
    assert len(logs.lines) == searched < 1000
    assert logs.result()[-1].message == f"{1000 - searched} more log lines were dropped"


@pytest.mark.parametrize(
    ("url", "shown", "secret"),
    [
        ("postgresql://bob:pw-1@db:5432/x", "postgresql://bob:**********@db:5432/x", "pw-1"),
        ("postgresql://bob:p@ss@db/x", "postgresql://bob:**********@db/x", "p@ss"),  # an unencoded @
        ("https://ghp_tok@github.com/o/r", "https://**********@github.com/o/r", "ghp_tok"),
        (
            "postgresql://db/x?sslmode=require&Password=hunter2",
            "postgresql://db/x?sslmode=require&Password=**********",
            "hunter2",
        ),
        ("https://host:8080/x?email=a@b.com", "https://host:8080/x?email=a@b.com", None),  # no user info
        (
            "see http://u:pw-2@h/ and ftp://pw-3@h2/",
            "see http://u:**********@h/ and ftp://**********@h2/",
            "pw-2",
        ),
    ],
)
def test_a_url_is_shown_with_its_password_masked(url: str, shown: str, secret: str | None) -> None:
    assert masked_urls(url) == shown
    assert masked_urls({"a": [url, 1]}) == {"a": [shown, 1]}
    assert holds_masked_url(shown) == (secret is not None) and not holds_masked_url(url)
    if secret is not None:
        assert secret in url_passwords(url)  # what logs mask, too


def test_finding_urls_takes_time_linear_in_the_text() -> None:
    """A run of letters was read again from each of its letters, looking for a scheme: a
    40 KB string held the server's loop 35 s. 300 KB strings of each shape take
    milliseconds now (minutes before, hours for a 1 MiB body): in a subprocess, so that a
    regression fails at the timeout rather than hang the suite."""
    script = (
        "from connectord.sandbox.redact import masked_urls, url_passwords\n"
        "n = 300_000\n"
        "for text in ('a' * n + '@', 'a' * n + '://' + 'b' * n, 'x://' + 'b@' * n, 'a:' * n + '@'):\n"
        "    masked_urls({'k': [text]}), url_passwords(text)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
