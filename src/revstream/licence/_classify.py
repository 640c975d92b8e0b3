"""One interface for the acceptable-use classifiers, and the one the settings choose."""

from __future__ import annotations

from typing import Protocol, Sequence

from ._builtin import BuiltinClassifier
from ._llama_guard import LlamaGuardClassifier
from ._policy import Verdict
from ._settings import LicenceSettings


class Classifier(Protocol):
    """Classifies the last message of `role` ("user": a prompt; "assistant": an output) in a
    conversation of (role, content) pairs against the hazard categories S1..S14."""

    name: str

    async def classify(self, messages: Sequence[tuple[str, str]], role: str = "user") -> Verdict: ...


def classifier_for(settings: LicenceSettings) -> BuiltinClassifier | LlamaGuardClassifier | None:
    """The classifier `[licence] classifier` names (a Llama Guard one must be `start()`ed);
    None for "none" (no acceptable-use screen)."""
    if settings.classifier == "none":
        return None
    guard = settings.llama_guard
    if settings.classifier == "llama-guard" and guard is not None:
        return LlamaGuardClassifier(guard.base_url, guard.model, guard.api_key_env, guard.timeout_s, guard.mode)
    return BuiltinClassifier()
