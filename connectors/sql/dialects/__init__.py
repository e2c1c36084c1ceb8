"""One module per backend, each implementing :class:`connectord.connectors.sql.catalog.Catalog`."""
