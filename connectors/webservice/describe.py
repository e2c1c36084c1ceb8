"""The connector's description: cheap and free of I/O, as describe_connector must be."""

from __future__ import annotations

from connectord.connectors.webservice.job import CALL_WEBSERVICE_ENDPOINT
from connectord.connectors.webservice.options import MODEL_METHODS
from connectord.connectors.webservice.schemas import CALL_CONFIG_SCHEMA, CREDENTIALS_SCHEMA
from connectord.plugins.types import ConnectorInfo, Operation

CONNECTOR_ID = "webservice"
VERSION = "0.1.0"

CALL = Operation(
    name="call",
    title="Call a web service endpoint",
    description="Send an HTTP request (JSON, XML or text body) and return the status, "
    "headers and body of the response.",
    dynamic_metadata=True,
    model_methods=list(MODEL_METHODS),
    config_schema=CALL_CONFIG_SCHEMA,
)


def connector_info() -> ConnectorInfo:
    return ConnectorInfo(
        id=CONNECTOR_ID,
        title="Web service (HTTP)",
        version=VERSION,
        description="Calls HTTP endpoints with no, basic, bearer or API key authentication.",
        credentials_schema=CREDENTIALS_SCHEMA,
        actions=[CALL],
        job_types=[CALL_WEBSERVICE_ENDPOINT],
    )
