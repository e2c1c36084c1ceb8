"""Every exception of the server's own code is of exactly one kind, and the API's table
answers every kind: a new error class cannot slip past ``api/errors.py`` as a 500."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import pytest

from connectord.api.errors import STATUS
from connectord.plugins.errors import ConnectorError
from connectord.plugins.server_errors import KINDS, ConnectordError, Invalid, NotFound, kind_of
from connectord.runtime.jobs.errors import NotFoundError
from connectord.runtime.store.records import StoreUnavailableError
from connectord.runtime.validation import InvalidRequestError

#: The server's layers; connectors, the CLI, the client and the pytest plugin have errors of
#: their own (a connector's are outcomes of its calls, the CLI's are exit codes).
SERVER = ("plugins", "sandbox", "runtime", "api")


def _subclasses(cls: type[BaseException]) -> Iterator[type[BaseException]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def server_exceptions() -> list[type[BaseException]]:
    """Every exception class defined in the server's layers (all their modules imported)."""
    for layer in SERVER:
        package = importlib.import_module(f"connectord.{layer}")
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    prefixes = tuple(f"connectord.{layer}." for layer in SERVER)
    found = {cls for cls in _subclasses(BaseException) if cls.__module__.startswith(prefixes)}
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def test_the_search_sees_the_errors_of_every_layer() -> None:
    names = {cls.__qualname__ for cls in server_exceptions()}
    assert {"DescriptorError", "FrameError", "StoreUnavailableError", "InvalidCallError"} <= names


@pytest.mark.parametrize("cls", server_exceptions(), ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_every_server_exception_is_of_exactly_one_kind(cls: type[BaseException]) -> None:
    if issubclass(cls, ConnectorError):  # a connector's, raised in its worker: an outcome
        assert not issubclass(cls, ConnectordError)
        return
    if cls is ConnectordError:
        return
    assert issubclass(cls, ConnectordError), f"{cls.__qualname__} has no kind: derive it from one"
    assert [kind for kind in KINDS if issubclass(cls, kind)] == [kind_of(cls)]


def test_the_table_answers_every_kind_and_nothing_else() -> None:
    assert list(STATUS) == list(KINDS)
    assert sorted(STATUS.values()) == list(STATUS.values())  # KINDS: in the order of their statuses
    assert len(set(STATUS.values())) == len(STATUS)


def test_a_class_without_a_kind_is_refused() -> None:
    class Kindless(ConnectordError):
        pass

    with pytest.raises(TypeError, match="Kindless derives from ConnectordError but from none of its kinds"):
        kind_of(Kindless("x"))


def test_named_errors_keep_their_builtin_bases_and_fields() -> None:
    """Callers catch some of them as ValueError or LookupError."""
    assert issubclass(InvalidRequestError, ValueError) and kind_of(InvalidRequestError) is Invalid
    assert issubclass(NotFoundError, LookupError) and kind_of(NotFoundError) is NotFound
    error = InvalidRequestError("limit must be a whole number", "limit")
    assert (str(error), error.field) == ("limit must be a whole number", "limit")
    assert StoreUnavailableError("disk I/O error").public_message.startswith("The store is unavailable")
