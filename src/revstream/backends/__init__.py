"""Backends: the engines that generate text, behind one small interface.

See `_base` for the interface and the error hierarchy.
"""

from ._base import (
    Backend,
    BackendBusy,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ChatMessage,
    ContextLengthExceeded,
    Event,
    Finish,
    GenerationRequest,
    PreparedRequest,
    PromptRejected,
    TextDelta,
    UpstreamRejected,
)
from ._embedded import embedded_gguf_path
from ._llamacpp import LlamaCppBackend
from ._meter import UsageMeter
from ._openai import OpenAIBackend
from ._registry import BACKEND_CLASSES, make_backend
from ._stops import StopScanner

__all__ = [
    "BACKEND_CLASSES",
    "Backend",
    "BackendBusy",
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "ChatMessage",
    "ContextLengthExceeded",
    "Event",
    "Finish",
    "GenerationRequest",
    "LlamaCppBackend",
    "OpenAIBackend",
    "PreparedRequest",
    "PromptRejected",
    "StopScanner",
    "TextDelta",
    "UpstreamRejected",
    "UsageMeter",
    "embedded_gguf_path",
    "make_backend",
]
