"""The dashboard's errors. Each carries the HTTP status and the OpenAI error fields; the
gateway maps them to the OpenAI error body in the one place it maps every error.

    DashboardError
      ├── Unauthenticated   401: no token, or one that is unknown or revoked
      ├── Forbidden         403: a token of another kind than the view needs
      ├── BadRequest        400: a parameter out of form or range
      └── NotFound          404: a statement this viewer cannot see
"""

from __future__ import annotations


class DashboardError(Exception):
    status = 500
    error_type = "invalid_request_error"
    code: str | None = None

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class Unauthenticated(DashboardError):
    status = 401
    code = "invalid_api_key"


class Forbidden(DashboardError):
    status = 403
    code = "forbidden"


class BadRequest(DashboardError):
    status = 400
    code = "invalid_parameter"


class NotFound(DashboardError):
    status = 404
    code = "not_found"
