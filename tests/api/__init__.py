"""The REST API against the app in-process (aiohttp's test client, a temp database)."""
