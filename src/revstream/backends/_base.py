"""The backend interface: one `execute()` method plus capability attributes.

A backend turns a validated `GenerationRequest` into a stream of `TextDelta`
events ending in one `Finish`. Adding vLLM, Ollama or another engine is a new
class here, never an edit to the gateway.

Errors (all `BackendError`; the gateway maps each once to an HTTP status):

    BackendError
    ├── ContextLengthExceeded   the prompt plus max_tokens do not fit       400
    ├── PromptRejected          no prompt text, or the chat template        400
    │                           refused the conversation (`code` says which)
    ├── UpstreamRejected        the upstream refused the request (4xx)      its status
    ├── BackendBusy             too many requests queued for this model     503
    ├── BackendUnavailable      upstream unreachable, or model not loaded   502 / 503
    └── BackendTimeout          upstream did not answer in time             504
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, AsyncIterator, Literal

if TYPE_CHECKING:
    from ._meter import UsageMeter

Endpoint = Literal["chat", "completion"]
FinishReason = Literal["stop", "length"]
UsageSource = Literal["backend", "tokenizer", "estimate"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What the gateway asks of a backend, already validated."""

    endpoint: Endpoint
    model: str
    messages: tuple[ChatMessage, ...] = ()
    prompt: str = ""
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    stream: bool = False


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A request the backend has accepted: prompt tokens counted, limits applied."""

    request: GenerationRequest
    tokens_prompt: int | None
    # The completion bound the gateway knows: the caller's max_tokens, or what is left
    # of the context window; None when neither is known (an upstream without a window).
    max_tokens: int | None
    # Backend-private state (the llama.cpp token ids, say); opaque to the gateway.
    payload: object = None
    # When the prompt was not counted, an upper bound on its tokens, so that money
    # reserved for the request is never less than it can cost.
    tokens_prompt_max: int | None = None

    @property
    def tokens_prompt_bound(self) -> int:
        if self.tokens_prompt is not None:
            return self.tokens_prompt
        return self.tokens_prompt_max or 0


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Finish:
    reason: FinishReason
    tokens_prompt: int
    tokens_completion: int
    usage_source: UsageSource


Event = TextDelta | Finish


class BackendError(Exception):
    """A backend could not serve a request. `status` is the HTTP status to answer."""

    status = 502
    code = "backend_error"
    error_type = "api_error"
    param: str | None = None


class ContextLengthExceeded(BackendError):
    status = 400
    code = "context_length_exceeded"
    error_type = "invalid_request_error"
    param = "messages"


class PromptRejected(BackendError):
    """The prompt cannot be served as given; `code` names why (see the codes below)."""

    status = 400
    error_type = "invalid_request_error"

    def __init__(self, message: str, code: str, param: str) -> None:
        super().__init__(message)
        self.code = code
        self.param = param


# PromptRejected codes.
EMPTY_PROMPT = "empty_prompt"  # no text to answer: an engine would fail on it
INVALID_MESSAGES = "invalid_messages"  # the model's chat template refused the conversation
CHAT_UNSUPPORTED = "chat_unsupported"  # the model has no chat template: use /v1/completions


class UpstreamRejected(BackendError):
    error_type = "invalid_request_error"

    def __init__(self, message: str, status: int, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or "upstream_rejected"


class BackendBusy(BackendError):
    status = 503
    code = "model_overloaded"
    error_type = "server_error"


class BackendUnavailable(BackendError):
    status = 502
    code = "upstream_unavailable"
    error_type = "server_error"

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


class BackendTimeout(BackendError):
    status = 504
    code = "upstream_timeout"
    error_type = "server_error"


class Backend(abc.ABC):
    """A model engine. Subclasses set the capability attributes and implement
    `prepare` (cheap, before any money is reserved) and `execute`."""

    kind: str = "abstract"
    # Capabilities.
    context_window: int | None = None
    reports_usage: bool = True
    supports_seed: bool = True

    @abc.abstractmethod
    async def start(self) -> None:
        """Load weights or open connection pools."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release what `start` took."""

    @abc.abstractmethod
    async def ready(self) -> tuple[bool, str]:
        """Whether the backend can serve now, and a word on why not."""

    @abc.abstractmethod
    async def prepare(self, request: GenerationRequest) -> PreparedRequest:
        """Count prompt tokens and check the context window; raise ContextLengthExceeded."""

    @abc.abstractmethod
    def execute(self, prepared: PreparedRequest, meter: "UsageMeter") -> AsyncIterator[Event]:
        """Generate: yield TextDelta events, then exactly one Finish.

        The backend keeps `meter` current as it generates and sets `meter.settled`
        once it has fully stopped. Closing or cancelling the iterator (the client
        went away) stops generation at the next token; the gateway then records
        what the meter holds."""


def prompt_param(request: GenerationRequest) -> str:
    return "messages" if request.endpoint == "chat" else "prompt"


def reject_empty_prompt(request: GenerationRequest) -> None:
    """Refuse a prompt without text (empty, or whitespace only) before any tokenizer or
    engine sees it: llama.cpp asserts on an empty token list, and there is nothing to answer."""
    if request.endpoint == "chat":
        if any(not message.content.isspace() and message.content for message in request.messages):
            return
        message = "'messages' holds no text: every message's content is empty or whitespace"
    else:
        if request.prompt and not request.prompt.isspace():
            return
        message = "'prompt' is empty or whitespace only"
    raise PromptRejected(message, EMPTY_PROMPT, prompt_param(request))


def context_exceeded(window: int, tokens_prompt: int, max_tokens: int | None, param: str) -> ContextLengthExceeded:
    requested = tokens_prompt + (max_tokens or 0)
    detail = f"{tokens_prompt} in the prompt" + (f", {max_tokens} in the completion" if max_tokens else "")
    error = ContextLengthExceeded(
        f"This model's maximum context length is {window} tokens. However, you requested "
        f"{requested} tokens ({detail}). Please reduce the length of the prompt or of max_tokens."
    )
    error.param = param
    return error


def prompt_bytes(request: GenerationRequest) -> int:
    """The UTF-8 bytes of what the caller wrote (contents, or the prompt)."""
    if request.endpoint == "chat":
        return sum(len(message.content.encode("utf-8")) for message in request.messages)
    return len(request.prompt.encode("utf-8"))


def check_bytes_fit(window: int | None, tokens_min: int, max_tokens: int | None, param: str) -> None:
    """Refuse, before tokenizing, a prompt whose bytes alone prove it cannot fit: it
    holds at least `tokens_min` tokens (its bytes over the longest token's)."""
    if window is None or (tokens_min < window and (max_tokens is None or tokens_min + max_tokens <= window)):
        return
    error = ContextLengthExceeded(
        f"This model's maximum context length is {window} tokens. However, your {param} alone holds at least "
        f"{tokens_min} tokens" + (f" and you asked for {max_tokens} in the completion" if max_tokens else "")
        + ". Please reduce the length of the prompt or of max_tokens."
    )
    error.param = param
    raise error


def resolve_max_tokens(window: int | None, tokens_prompt: int | None, max_tokens: int | None, param: str) -> int | None:
    """The completion budget: the caller's max_tokens, bounded by the context window."""
    if window is None or tokens_prompt is None:
        return max_tokens
    if tokens_prompt >= window or (max_tokens is not None and tokens_prompt + max_tokens > window):
        raise context_exceeded(window, tokens_prompt, max_tokens, param)
    return max_tokens if max_tokens is not None else window - tokens_prompt
