"""Test a connector the way the server runs it.

``connectord.testing`` is installed with connectord as a pytest plugin (entry point
``pytest11``); its fixtures are:

- ``connectord_harness``: ``connectord_harness("acme")`` is a :class:`ConnectorHarness`
  whose methods call the connector's hooks through the server's own checks (connector,
  action, model method, ``cfg`` against ``config_schema``, credentials and params against
  their schemas) and redaction. In this process by default (fast); in the real sandbox
  with ``pytest --connectord-sandbox`` (or ``connectord_sandbox = true`` in the ini file).
  A failed call raises :class:`CallFailed`, which shows the connector's own traceback with
  its secrets masked.
- ``connectord_server``: a live ``connectord serve`` on a free port with a temporary data
  directory, the installed connectors loaded, and a user with an API key
  (:class:`LiveServer`), for end-to-end tests.
"""

from connectord.testing.harness import CallFailed, ConnectorHarness, InProcessRunner, Runner, SandboxRunner
from connectord.testing.server import LiveServer, live_server

__all__ = [
    "CallFailed",
    "ConnectorHarness",
    "InProcessRunner",
    "LiveServer",
    "Runner",
    "SandboxRunner",
    "live_server",
]
