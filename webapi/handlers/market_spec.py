"""The marketplace's routes in /api/openapi.json (`OPENAPI_PATHS`, `OPENAPI_SCHEMAS`,
re-exported by webapi/handlers/market.py, which webapi/openapi.py reads)."""

from __future__ import annotations

from typing import Any

from webapi.handlers.spec import OPTIONAL, SIGNED_IN, body_of, errors, json_answer, ref
from webapi.market import listings, purchases, search
from webapi.market.packages import LIMITS

P = "/api/marketplace"
_OBJ = {"type": "object"}
_STR = {"type": "string"}
_INT = {"type": "integer"}
_ID = {"name": "id", "in": "path", "required": True, "schema": _STR}
_TAGS = ["marketplace"]
# Stripe refused or could not be reached (webapi/market/payments.py PaymentFailed)
_BAD_GATEWAY = {
    "502": {
        "description": "Stripe refused the request or could not be reached (the error says "
        "which); nothing was charged or paid",
        "content": {"application/json": {"schema": ref("Error")}},
    }
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _object(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


OPENAPI_SCHEMAS: dict[str, Any] = {
    "Listing": {
        "type": "object",
        "required": [
            "id",
            "type",
            "name",
            "price_cents",
            "currency",
            "free",
            "status",
            "creator",
            "tags",
        ],
        "properties": {
            "id": {"type": "string", "pattern": "^m[0-9a-f]{20}$"},
            "type": {"enum": list(listings.TYPES)},
            "name": _STR,
            "description": _STR,
            "tags": {"type": "array", "items": _STR},
            "price_cents": {
                "type": "integer",
                "minimum": 0,
                "maximum": listings.MAX_PRICE_CENTS,
                "description": "US cents (usd) or whole credits (digi); 0 = free",
            },
            "currency": {"enum": list(listings.CURRENCIES)},
            "free": {"type": "boolean"},
            "compatibility": {"type": "array", "items": _STR, "description": "rig ids"},
            "status": {"enum": list(listings.STATUSES)},
            "creator": _object(["id", "name"], id=_STR, name=_STR),
            "rating": _object(["average", "count"], average={"type": "number"}, count=_INT),
            "sales": _INT,
            "downloads": _INT,
            "created_at": {"type": ["string", "null"]},
            "published_at": {"type": ["string", "null"]},
            "builtin": {"type": "boolean", "description": "Digi's own items (Digigami)"},
            "thumbnail_url": _STR,
            "preview_url": _STR,
            "clip_url": {"type": ["string", "null"]},
            "owned": {"type": "boolean", "description": "the caller holds it"},
            "mine": {"type": "boolean", "description": "the caller made it"},
            "my_rating": {"type": ["integer", "null"]},
            "preview_ready": {
                "type": "boolean",
                "description": "its preview pictures are rendered (after an upload: a few "
                "seconds later)",
            },
        },
    },
    "ListingPage": _object(
        ["items", "next_cursor"],
        items={"type": "array", "items": ref("Listing")},
        next_cursor={
            "type": ["string", "null"],
            "description": "pass as ?cursor= for the next page (null: the last page)",
        },
    ),
    "ListingEdit": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "maxLength": listings.NAME_MAX},
            "description": {"type": "string", "maxLength": listings.DESCRIPTION_MAX},
            "tags": {"type": "array", "items": _STR, "maxItems": listings.TAGS_MAX},
            "price_cents": {"type": "integer", "minimum": 0, "maximum": listings.MAX_PRICE_CENTS},
            "currency": {"enum": list(listings.CURRENCIES)},
            "compatibility": {"type": "array", "items": _STR},
        },
    },
    "PurchaseRequest": {
        "type": "object",
        "required": ["asset_id"],
        "additionalProperties": False,
        "description": "Nothing else is accepted: the price and currency come from the "
        'listing (a "price", "amount" or "currency" sent is a 400).',
        "properties": {
            "asset_id": _STR,
            "pay_with": {"enum": ["card", "credits"], "default": "card"},
        },
    },
    "PurchaseStarted": {
        "type": "object",
        "required": ["status", "purchase_id"],
        "properties": {
            "status": {"enum": ["owned", "pending"]},
            "purchase_id": _STR,
            "amount_cents": _INT,
            "currency": _STR,
            "credits": {"type": "integer", "description": "DIGI credits left, or a pack's"},
            "payment_intent_id": _STR,
            "client_secret": {"type": "string", "description": "for Stripe.js (card)"},
            "publishable_key": _STR,
            "stripe_js": {"type": "string", "description": "where to load Stripe.js from"},
        },
    },
    "Purchase": {
        "type": "object",
        "required": ["id", "status", "kind"],
        "properties": {
            "id": _STR,
            "status": {"enum": ["pending", "paid", "refunded", "failed"]},
            "kind": {"enum": ["asset", "credits"]},
            "listing_id": {"type": ["string", "null"]},
            "credits": {"type": ["integer", "null"]},
            "amount_cents": _INT,
            "currency": _STR,
            "method": _STR,
            "owned": {"type": "boolean"},
            "balance": _INT,
        },
    },
    "Owned": _object(
        ["items", "credits"],
        items={"type": "array", "items": ref("Listing")},
        credits={"type": "integer", "description": "the caller's DIGI credits"},
    ),
    "Creator": _object(
        ["user_id", "display_name"],
        user_id=_STR,
        display_name=_STR,
        connect_account_id={"type": ["string", "null"]},
        created_at=_STR,
    ),
    "Payout": _object(
        ["id", "amount_cents", "status"],
        id=_STR,
        request_key=_STR,
        amount_cents=_INT,
        currency=_STR,
        status={"enum": ["pending", "paid", "failed"]},
        transfer_id={"type": ["string", "null"]},
        error={"type": ["string", "null"]},
        destination={"type": ["string", "null"]},
    ),
    "Dashboard": {
        "type": "object",
        "required": ["sales", "revenue_cents", "earned_cents", "balance_cents"],
        "properties": {
            "sales": _INT,
            "revenue_cents": _INT,
            "earned_cents": {"type": "integer", "description": "the creator's 80 %"},
            "downloads": _INT,
            "top_assets": {"type": "array", "items": _OBJ},
            "balance_cents": {"type": "integer", "description": "available for a payout"},
            "paid_out_cents": _INT,
            "pending_payout_cents": _INT,
            "listings": {"type": "array", "items": ref("Listing")},
            "by_day": {"type": "array", "items": _OBJ},
        },
    },
}

_ZIP = {"application/zip": {"schema": {"type": "string", "format": "binary"}}}
_LISTING = json_answer("Listing", "the listing")


def _file(media: str, what: str) -> dict[str, Any]:
    return {
        "get": {
            "tags": _TAGS,
            "summary": f"The listing's {what} (404 until rendered; seen as the listing is)",
            "security": OPTIONAL,
            "parameters": [_ID],
            "responses": {
                "200": {
                    "description": what,
                    "content": {media: {"schema": {"type": "string", "format": "binary"}}},
                },
                **errors(404),
            },
        }
    }


def _creator_op(summary: str, answer: str, *, body: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {
        "tags": _TAGS,
        "summary": summary,
        "security": SIGNED_IN,
        "parameters": [_ID],
        "responses": {"200": json_answer(answer, "done"), **errors(401, 403, 404, 409)},
    }
    if body:
        op["requestBody"] = body_of("ListingEdit")
        op["responses"].update(errors(400, 413, 415))
    return op


_SEARCH_PARAMS = [
    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200},
     "description": "full-text search over name, description and tags (any text is valid)"},
    {"name": "type", "in": "query", "schema": {"enum": list(listings.TYPES)}},
    {"name": "min_price", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    {"name": "max_price", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    {"name": "currency", "in": "query", "schema": {"enum": list(listings.CURRENCIES)}},
    {"name": "free", "in": "query", "schema": {"type": "boolean"}},
    {"name": "rig", "in": "query", "schema": {"type": "string"}},
    {"name": "sort", "in": "query", "schema": {"enum": list(search.SORTS), "default": "newest"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
     "maximum": search.LIMIT_MAX, "default": search.DEFAULT_LIMIT}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
]  # fmt: skip

OPENAPI_PATHS: dict[str, Any] = {
    f"{P}/assets": {
        "get": {
            "tags": _TAGS,
            "summary": "Search the published listings (full text, filters, sort; keyset pages)",
            "security": OPTIONAL,
            "parameters": _SEARCH_PARAMS,
            "responses": {"200": json_answer("ListingPage", "one page"), **errors(400)},
        },
        "post": {
            "tags": _TAGS,
            "summary": "Upload a package (a zip with manifest.json) as a new draft listing",
            "description": f"At most {LIMITS.max_upload // (1024 * 1024)} MB, "
            f"{LIMITS.max_files} files; every refusal names the file and the problem "
            "(docs/MARKETPLACE.md). Its previews are rendered in the background.",
            "security": SIGNED_IN,
            "requestBody": {"required": True, "content": _ZIP},
            "responses": {
                "201": json_answer("Listing", "the draft"),
                **errors(400, 401, 403, 409, 413, 415),
            },
        },
    },
    f"{P}/assets/{{id}}": {
        "get": {
            "tags": _TAGS,
            "summary": "A listing (a draft or an unpublished one: only to its creator)",
            "security": OPTIONAL,
            "parameters": [_ID],
            "responses": {"200": _LISTING, **errors(404)},
        },
        "patch": _creator_op("Edit one's own listing", "Listing", body=True),
        "delete": {
            **_creator_op("Delete one's own draft", "Listing"),
            "responses": {
                "200": _json(_object(["deleted"], deleted=_STR), "deleted"),
                **errors(401, 403, 404, 409),
            },
        },
    },
    f"{P}/assets/{{id}}/publish": {"post": _creator_op("Publish one's own listing", "Listing")},
    f"{P}/assets/{{id}}/unpublish": {
        "post": _creator_op("Withdraw one's own listing (buyers keep it)", "Listing")
    },
    f"{P}/assets/{{id}}/thumbnail.png": _file("image/png", "thumbnail (256x256)"),
    f"{P}/assets/{{id}}/preview.png": _file("image/png", "preview picture (512x512)"),
    f"{P}/assets/{{id}}/preview.webm": _file("video/webm", "preview clip"),
    f"{P}/assets/{{id}}/rating": {
        "post": {
            "tags": _TAGS,
            "summary": "Rate a listing one holds, 1 to 5 stars (again: replaces)",
            "security": SIGNED_IN,
            "parameters": [_ID],
            "requestBody": _body(
                _object(["stars"], stars={"type": "integer", "minimum": 1, "maximum": 5})
            ),
            "responses": {
                "200": _json(
                    _object(
                        ["average", "count", "mine"],
                        average={"type": "number"},
                        count=_INT,
                        mine=_INT,
                    ),
                    "the listing's rating",
                ),
                **errors(400, 401, 403, 404, 415),
            },
        }
    },
    f"{P}/assets/{{id}}/download": {
        "post": {
            "tags": _TAGS,
            "summary": "A signed download link (5 minutes) for a buyer or the creator",
            "security": SIGNED_IN,
            "parameters": [_ID],
            "responses": {
                "200": _json(
                    _object(["url", "expires_at"], url=_STR, expires_at=_STR),
                    "GET the url for the package",
                ),
                **errors(401, 403, 404),
            },
        }
    },
    f"{P}/downloads/{{id}}": {
        "get": {
            "tags": _TAGS,
            "summary": "The package (manifest.json and files) of a signed download link",
            "security": [{}],
            "parameters": [
                _ID,
                {"name": "user", "in": "query", "required": True, "schema": _STR},
                {"name": "expires", "in": "query", "required": True, "schema": _INT},
                {"name": "sig", "in": "query", "required": True, "schema": _STR},
            ],
            "responses": {"200": {"description": "the zip", "content": _ZIP}, **errors(403, 404)},
        }
    },
    f"{P}/purchase": {
        "post": {
            "tags": _TAGS,
            "summary": "Buy a listing: free and DIGI-credit items at once; by card a Stripe "
            "PaymentIntent (our amount) to confirm with Stripe.js, fulfilled by the webhook",
            "security": SIGNED_IN,
            "requestBody": body_of("PurchaseRequest"),
            "responses": {
                "200": json_answer("PurchaseStarted", "owned now, or pending the payment"),
                **errors(400, 401, 403, 404, 409, 413, 415, 503),
                **_BAD_GATEWAY,
            },
        }
    },
    f"{P}/credits": {
        "post": {
            "tags": _TAGS,
            "summary": "Buy a pack of DIGI credits by card (1 credit = 1 US cent)",
            "security": SIGNED_IN,
            "requestBody": _body(_object(["pack"], pack={"enum": list(purchases.CREDIT_PACKS)})),
            "responses": {
                "200": json_answer("PurchaseStarted", "pending the payment"),
                **errors(400, 401, 403, 415, 503),
                **_BAD_GATEWAY,
            },
        }
    },
    f"{P}/purchases/{{id}}": {
        "get": {
            "tags": _TAGS,
            "summary": "One of the caller's purchases (another's: 404)",
            "security": SIGNED_IN,
            "parameters": [_ID],
            "responses": {"200": json_answer("Purchase", "the purchase"), **errors(401, 404)},
        }
    },
    f"{P}/webhook": {
        "post": {
            "tags": _TAGS,
            "summary": "Stripe's webhook (payment_intent.succeeded, charge.refunded, "
            "payment_intent.payment_failed), verified by its Stripe-Signature",
            "security": [{}],
            "parameters": [
                {"name": "Stripe-Signature", "in": "header", "required": True, "schema": _STR}
            ],
            "requestBody": _body(_OBJ),
            "responses": {
                "200": _json(
                    _object(["outcome"], outcome={"enum": list(purchases.OUTCOMES)}),
                    "processed (or seen before)",
                ),
                **errors(400, 413, 415, 503),
            },
        }
    },
    f"{P}/owned": {
        "get": {
            "tags": _TAGS,
            "summary": "What the caller owns, and their DIGI credits",
            "security": SIGNED_IN,
            "responses": {"200": json_answer("Owned", "owned listings"), **errors(401)},
        }
    },
    f"{P}/styles": {
        "get": {
            "tags": _TAGS,
            "summary": "The styles the caller may generate avatars with (/create): the "
            "built-in ones, then the style packs they own or made; a generation request "
            "names one by its id",
            "security": OPTIONAL,
            "responses": {
                "200": _json(
                    _object(
                        ["styles"],
                        styles={
                            "type": "array",
                            "items": _object(
                                ["id", "style", "name", "builtin", "listing_id", "mine"],
                                id=_STR,
                                style=_STR,
                                name=_STR,
                                description=_STR,
                                builtin={"type": "boolean"},
                                listing_id={"type": ["string", "null"]},
                                mine={"type": "boolean"},
                            ),
                        },
                    ),
                    "the styles",
                ),
                **errors(401),
            },
        }
    },
    f"{P}/creator": {
        "post": {
            "tags": _TAGS,
            "summary": "Become a creator (again: rename)",
            "security": SIGNED_IN,
            "requestBody": _body(_object(["display_name"], display_name=_STR)),
            "responses": {
                "200": json_answer("Creator", "the creator"),
                **errors(400, 401, 403, 409, 415),
            },
        }
    },
    f"{P}/creator/connect": {
        "post": {
            "tags": _TAGS,
            "summary": "The creator's Stripe Connect account (made on the first call) and "
            "whether it can receive payouts; until it can, a fresh link to Stripe's onboarding",
            "security": SIGNED_IN,
            "responses": {
                "200": _json(
                    _object(
                        ["connect_account_id", "ready", "onboarding_url"],
                        connect_account_id=_STR,
                        ready={"type": "boolean"},
                        onboarding_url={"type": ["string", "null"]},
                    ),
                    "the account payouts go to; ready: it can receive transfers; "
                    "onboarding_url (null when ready): where its owner finishes Stripe's setup",
                ),
                **errors(401, 403, 503),
                **_BAD_GATEWAY,
            },
        }
    },
    f"{P}/dashboard": {
        "get": {
            "tags": _TAGS,
            "summary": "The creator's sales, downloads, revenue, top assets and balance",
            "security": SIGNED_IN,
            "parameters": [
                {
                    "name": "since",
                    "in": "query",
                    "schema": _STR,
                    "description": "an ISO date or time (inclusive)",
                },
                {
                    "name": "until",
                    "in": "query",
                    "schema": _STR,
                    "description": "an ISO date or time",
                },
            ],
            "responses": {"200": json_answer("Dashboard", "analytics"), **errors(400, 401, 403)},
        }
    },
    f"{P}/payouts": {
        "post": {
            "tags": _TAGS,
            "summary": "Pay out to the creator's Stripe account (at most the available "
            "balance; one payout per request_key; 409 until Stripe's onboarding is finished)",
            "security": SIGNED_IN,
            "requestBody": _body(
                _object(["amount_cents", "request_key"], amount_cents=_INT, request_key=_STR)
            ),
            "responses": {
                "200": json_answer("Payout", "the payout"),
                **errors(400, 401, 403, 409, 415, 503),
                **_BAD_GATEWAY,
            },
        }
    },
}
