"""The domain's errors, one per answer a client can get. Domain code (webapi/store,
webapi/accounts, webapi/library and later the market) raises these and knows nothing of
HTTP; the app's one error middleware (`webapi.app._errors`) turns each into its status and
`{"error": message}`. The message is for the client: it names what is wrong, never
internals."""

from __future__ import annotations


class DomainError(Exception):
    """Base: a client's request cannot be done as asked. `status` is its HTTP status."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the request field at fault, when there is one

    def __str__(self) -> str:
        return self.message


class Invalid(DomainError):
    """A field is missing, of the wrong type or out of range."""

    status = 400


class Unauthorized(DomainError):
    """No (valid) credentials: sign in, or send a Bearer token."""

    status = 401


class Forbidden(DomainError):
    """Credentials are fine but do not allow this (a foreign origin, a revoked token)."""

    status = 403


class NotFound(DomainError):
    """No such object, or one the caller may not see: the two must be indistinguishable."""

    status = 404


class Conflict(DomainError):
    """The request clashes with what is stored (a taken username)."""

    status = 409


class TooLarge(DomainError):
    status = 413


class RateLimited(DomainError):
    """Too many attempts; `retry_after` seconds until the next may succeed."""

    status = 429

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unimplemented(DomainError):
    """A documented route whose capability has not landed yet."""

    status = 501
