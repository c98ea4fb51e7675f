"""Building blocks for the areas' OpenAPI entries (`OPENAPI_PATHS`), so that each area
writes what is particular to its routes and the shapes every route shares are written once.
`webapi/openapi.py` assembles the document and defines the components referred to here."""

from __future__ import annotations

from typing import Any

# security requirements: signed in (session cookie or API token), or anyone
SIGNED_IN: list[dict[str, list[str]]] = [{"cookie": []}, {"bearer": []}]
OPTIONAL: list[dict[str, list[str]]] = [{}, *SIGNED_IN]

# the shared error answers (components/responses in webapi/openapi.py), by status
ERROR_RESPONSES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "TooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
    501: "NotImplemented",
    503: "ServiceUnavailable",
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_answer(schema: str, description: str) -> dict[str, Any]:
    """A JSON answer whose body is the named schema."""
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def body_of(schema: str) -> dict[str, Any]:
    """A required JSON request body of the named schema."""
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


def errors(*statuses: int) -> dict[str, Any]:
    """The shared error answers for these statuses, as `responses` entries."""
    return {str(s): {"$ref": f"#/components/responses/{ERROR_RESPONSES[s]}"} for s in statuses}
