"""The key file in the data directory, against real files and real concurrent processes."""

import contextlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connectord.runtime.config import ConfigurationError
from connectord.runtime.secrets import KEY_FILE, SecretBox, _create_key_file, load_secret_box


def file_key(data_dir: Path) -> str:
    return (data_dir / KEY_FILE).read_text().strip()


def test_the_key_file_is_created_0600_in_a_new_0700_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data" / "nested"
    box = load_secret_box(data_dir, None)
    assert stat.S_IMODE((data_dir / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert SecretBox([file_key(data_dir)]).open(box.seal(b"x")) == b"x"
    assert os.listdir(data_dir) == [KEY_FILE]  # no temporary file left behind


def test_a_second_load_uses_the_same_key(tmp_path: Path) -> None:
    token = load_secret_box(tmp_path, None).seal(b"kept")
    assert load_secret_box(tmp_path, None).open(token) == b"kept"


def test_an_existing_private_key_file_is_used_as_is(tmp_path: Path) -> None:
    existing = Fernet.generate_key()
    path = tmp_path / KEY_FILE
    path.write_bytes(existing + b"\n")
    path.chmod(0o600)
    assert load_secret_box(tmp_path, None).open(SecretBox([existing]).seal(b"x")) == b"x"
    assert path.read_bytes() == existing + b"\n"


def test_a_key_file_may_hold_several_keys_for_rotation(tmp_path: Path) -> None:
    current, previous = Fernet.generate_key(), Fernet.generate_key()
    path = tmp_path / KEY_FILE
    path.write_bytes(current + b"\n" + previous + b"\n")
    path.chmod(0o600)
    box = load_secret_box(tmp_path, None)
    assert box.open(SecretBox([previous]).seal(b"old")) == b"old"
    assert SecretBox([current]).open(box.seal(b"new")) == b"new"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_key_file_others_can_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / KEY_FILE
    path.write_bytes(Fernet.generate_key())
    path.chmod(mode)
    with pytest.raises(ConfigurationError) as info:
        load_secret_box(tmp_path, None)
    message = str(info.value)
    assert str(path) in message
    assert "chmod 600" in message
    assert f"{mode:04o}" in message
    assert path.read_text() not in message


def test_a_malformed_key_file_is_refused_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    path.write_text("half-a-key")
    path.chmod(0o600)
    with pytest.raises(ConfigurationError) as info:
        load_secret_box(tmp_path, None)
    assert str(path) in str(info.value) and "half-a-key" not in str(info.value)
    assert path.read_text() == "half-a-key"


def test_an_empty_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    path.touch(mode=0o600)
    with pytest.raises(ConfigurationError, match="holds no key"):
        load_secret_box(tmp_path, None)


def test_the_process_that_loses_the_race_reads_the_winners_key(tmp_path: Path) -> None:
    # The moment between "no key file" and creating it, made deterministic: the file appears
    # after the check, as when another process got there first.
    winner = Fernet.generate_key()
    path = tmp_path / KEY_FILE
    path.write_bytes(winner + b"\n")
    path.chmod(0o600)
    assert _create_key_file(tmp_path, path).strip() == winner.decode()
    assert path.read_bytes() == winner + b"\n"
    assert os.listdir(tmp_path) == [KEY_FILE]


RACER = """
import sys, time
from pathlib import Path
from cryptography.fernet import Fernet
from connectord.runtime.secrets import load_secret_box

# Widen the window between finding no key file and creating one, so that every racer is
# inside it at once instead of the first one finishing before the others begin.
generate_key = Fernet.generate_key
Fernet.generate_key = classmethod(lambda cls: (time.sleep(0.3), generate_key())[1])
print("ready", flush=True)
sys.stdin.read()  # all go on together at EOF
sys.stdout.write(load_secret_box(Path(sys.argv[1]), None).seal(b"race").decode())
"""


def test_processes_racing_to_create_the_key_end_with_the_same_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with contextlib.ExitStack() as stack:
        racers = [
            stack.enter_context(
                subprocess.Popen(
                    [sys.executable, "-c", RACER, str(data_dir)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
            )
            for _ in range(8)
        ]
        for racer in racers:
            assert racer.stdout is not None
            assert racer.stdout.readline() == b"ready\n"
        for racer in racers:
            assert racer.stdin is not None
            racer.stdin.close()
        outputs = [racer.stdout.read() for racer in racers if racer.stdout]
        for racer in racers:
            racer.wait(timeout=30)
    assert [racer.returncode for racer in racers] == [0] * len(racers), outputs
    # Each racer sealed with the key in the one file: no racer used a key of its own.
    box = SecretBox([file_key(data_dir)])
    assert [box.open(out) for out in outputs] == [b"race"] * len(racers)
    assert os.listdir(data_dir) == [KEY_FILE]


READ_ONLY = """
import os, sys
from pathlib import Path
from connectord.runtime.config import ConfigurationError
from connectord.runtime.secrets import load_secret_box
os.chdir(sys.argv[1])
if os.geteuid() == 0:
    # Root ignores directory modes: act as nobody, reaching the directory through the
    # working directory since its parents are private to root.
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
try:
    load_secret_box(Path("."), None)
except ConfigurationError as exc:
    print(exc)
    sys.exit(3)
"""


def test_a_read_only_data_dir_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o555)
    data_dir.chmod(0o555)  # mkdir's mode is cut by the umask
    try:
        result = subprocess.run(
            [sys.executable, "-c", READ_ONLY, str(data_dir)], capture_output=True, text=True, timeout=30
        )
    finally:
        data_dir.chmod(0o700)
    assert result.returncode == 3, result.stderr
    assert "data directory ." in result.stdout
    assert "Permission denied" in result.stdout
    assert "CONNECTORD_SECRET_KEY" in result.stdout
    assert os.listdir(data_dir) == []


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.write_text("")
    with pytest.raises(ConfigurationError, match=str(data_dir)):
        load_secret_box(data_dir, None)
