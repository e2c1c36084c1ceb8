"""The service's core: calls, their outcomes, configuration and the store. No HTTP here."""
