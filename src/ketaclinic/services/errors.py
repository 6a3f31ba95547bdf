"""What a service can refuse, each with a stable ``code``; the API maps each class to one HTTP status.

``NotFound`` is also what a caller gets for a record that exists but is not theirs (a patient
asking for another patient's chart): the answer must not reveal that it exists.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every refusal a service reports to its caller (never a bug)."""

    status = 400
    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field


class Unauthenticated(ServiceError):
    status = 401
    default_code = "not_authenticated"


class Forbidden(ServiceError):
    status = 403
    default_code = "forbidden"


class NotFound(ServiceError):
    status = 404
    default_code = "not_found"


class Conflict(ServiceError):
    """The record changed since the caller read it (stale version), or its state forbids the change."""

    status = 409
    default_code = "stale_version"


class PreconditionRequired(ServiceError):
    status = 428
    default_code = "if_match_required"


class ValidationFailed(ServiceError):
    status = 422
    default_code = "invalid_input"


class TooLarge(ServiceError):
    status = 413
    default_code = "too_large"


class RateLimited(ServiceError):
    status = 429
    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None, field: str | None = None):
        super().__init__(message, code=code, field=field)
        self.retry_after_s = retry_after_s

