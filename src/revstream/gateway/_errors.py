"""HTTP errors in the OpenAI error format: `{"error": {"message", "type", "param", "code"}}`.

Every handler raises `ApiError` (or a backend/store error that `to_api_error` maps);
the app turns it into one JSON response in one place.
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

from ..backends import BackendError


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code}}

    def response(self, request_id: str | None = None) -> Response:
        headers = dict(self.headers)
        if request_id:
            headers["x-request-id"] = request_id
        return Response(orjson.dumps(self.body()), self.status, headers=headers, media_type="application/json")


def invalid(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, "invalid_request_error", code, param)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, "invalid_request_error", "invalid_api_key")


def model_not_found(model: str) -> ApiError:
    return ApiError(
        404,
        f"The model `{model}` does not exist or you do not have access to it. GET /v1/models lists the models served here.",
        "invalid_request_error",
        "model_not_found",
        "model",
    )


def from_backend(error: BackendError) -> ApiError:
    status = error.status
    retry = {"x-should-retry": "true"} if status in (502, 503, 504) else {}
    return ApiError(status, str(error), error.error_type, error.code, error.param, retry)


def internal(request_id: str) -> ApiError:
    return ApiError(
        500,
        f"The server had an error while processing your request (request id {request_id}). Retry, or report the id.",
        "server_error",
        "internal_error",
    )
