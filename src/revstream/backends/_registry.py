"""Which backend class runs which model: a registry keyed by the config's `backend`."""

from __future__ import annotations

from ..config import ModelConfig
from ._base import Backend
from ._llamacpp import LlamaCppBackend
from ._openai import OpenAIBackend

BACKEND_CLASSES: dict[str, type[Backend]] = {
    LlamaCppBackend.kind: LlamaCppBackend,
    OpenAIBackend.kind: OpenAIBackend,
}


def make_backend(model: ModelConfig) -> Backend:
    return BACKEND_CLASSES[model.backend](model)
