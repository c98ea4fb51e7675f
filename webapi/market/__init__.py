"""The marketplace's domain (docs/MARKETPLACE.md): listings and search, uploads and their
checks, purchases, the ledger, payouts and creators' analytics. No aiohttp here (the HTTP
is webapi/handlers/market.py); `payments.py` is the only module that talks to Stripe."""
