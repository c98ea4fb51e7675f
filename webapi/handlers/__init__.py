"""HTTP handlers, one module per API area: each parses a request, calls the domain code
(webapi/store, webapi/accounts, webapi/library) and answers. Each has `setup(app)` (its
routes) and `OPENAPI_PATHS` (their part of /api/openapi.json)."""
