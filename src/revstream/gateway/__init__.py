"""The gateway: the OpenAI-compatible HTTP API and the request pipeline behind it."""

from ._app import app_from_environment, create_app
from ._errors import ApiError
from ._state import AppState

__all__ = ["ApiError", "AppState", "app_from_environment", "create_app"]
