"""The connector contract: hook specifications, the types connectors return, the plugin manager."""
