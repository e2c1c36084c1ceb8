"""The HTTP API (aiohttp): validation, authentication, the URL map and error mapping."""
