"""Request bodies of /v1/chat/completions and /v1/completions, validated into a
`GenerationRequest`. Each check names the offending parameter, as OpenAI does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backends import ChatMessage, GenerationRequest
from ..config import LimitsConfig
from ._errors import invalid

CHAT_ROLES = ("system", "developer", "user", "assistant", "tool")
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1
STOP_SEQUENCE_CHARS_MAX = 256


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    generation: GenerationRequest
    include_usage: bool
    user: str | None


def _number(body: dict, name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(f"'{name}' must be a number, got {type(value).__name__}", name, "invalid_type")
    if not low <= value <= high:
        raise invalid(f"'{name}' must be between {low:g} and {high:g}, got {value}", name, "invalid_value")
    return float(value)


def _integer(body: dict, name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"'{name}' must be an integer, got {type(value).__name__}", name, "invalid_type")
    if not low <= value <= high:
        raise invalid(f"'{name}' must be between {low} and {high}, got {value}", name, "invalid_value")
    return value


def _stop(body: dict, limits: LimitsConfig) -> tuple[str, ...]:
    value = body.get("stop")
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise invalid("'stop' must be a string or an array of strings", "stop", "invalid_type")
    if len(stops) > limits.stop_sequences_max:
        raise invalid(f"'stop' accepts at most {limits.stop_sequences_max} sequences", "stop", "invalid_value")
    if any(len(s) > STOP_SEQUENCE_CHARS_MAX for s in stops):
        raise invalid(f"each stop sequence is at most {STOP_SEQUENCE_CHARS_MAX} characters", "stop", "invalid_value")
    return tuple(stops)


def _max_tokens(body: dict, limits: LimitsConfig) -> int | None:
    max_tokens = _integer(body, "max_tokens", 1, limits.max_tokens_max)
    max_completion = _integer(body, "max_completion_tokens", 1, limits.max_tokens_max)
    if max_tokens is not None and max_completion is not None and max_tokens != max_completion:
        raise invalid("give 'max_tokens' or 'max_completion_tokens', not both", "max_tokens")
    return max_completion if max_completion is not None else max_tokens


def _common(body: dict, limits: LimitsConfig) -> dict[str, Any]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("you must provide a model parameter", "model", "missing_required_parameter")
    n = _integer(body, "n", 1, 128)
    if n not in (None, 1):
        raise invalid("only n = 1 is supported", "n", "unsupported_value")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise invalid("'stream' must be a boolean", "stream", "invalid_type")
    return {
        "model": model,
        "stream": stream,
        "max_tokens": _max_tokens(body, limits),
        "temperature": _number(body, "temperature", 1.0, 0.0, 2.0),
        "top_p": _number(body, "top_p", 1.0, 0.0, 1.0),
        "stop": _stop(body, limits),
        "seed": _integer(body, "seed", SEED_MIN, SEED_MAX),
    }


def _include_usage(body: dict, stream: bool) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not stream:
        raise invalid("'stream_options' is only allowed when 'stream' is true", "stream_options")
    if not isinstance(options, dict):
        raise invalid("'stream_options' must be an object", "stream_options", "invalid_type")
    include = options.get("include_usage", False)
    if not isinstance(include, bool):
        raise invalid("'stream_options.include_usage' must be a boolean", "stream_options.include_usage", "invalid_type")
    return include


def _user(body: dict) -> str | None:
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise invalid("'user' must be a string", "user", "invalid_type")
    return user


def _content(content: Any, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise invalid(
                    f"messages[{index}].content: only text parts are supported", f"messages[{index}].content"
                )
            parts.append(part["text"])
        return "".join(parts)
    if content is None:
        return ""
    raise invalid(f"messages[{index}].content must be a string or an array of text parts", f"messages[{index}].content")


def _messages(body: dict, limits: LimitsConfig) -> tuple[ChatMessage, ...]:
    messages = body.get("messages")
    if messages is None:
        raise invalid("you must provide a messages parameter", "messages", "missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise invalid("'messages' must be a non-empty array", "messages", "invalid_type")
    if len(messages) > limits.messages_max:
        raise invalid(f"'messages' holds at most {limits.messages_max} messages", "messages", "invalid_value")
    parsed = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"messages[{index}] must be an object", f"messages[{index}]", "invalid_type")
        role = message.get("role")
        if role not in CHAT_ROLES:
            raise invalid(
                f"messages[{index}].role must be one of {', '.join(CHAT_ROLES)}, got {role!r}",
                f"messages[{index}].role",
                "invalid_value",
            )
        parsed.append(ChatMessage("system" if role == "developer" else role, _content(message.get("content"), index)))
    return tuple(parsed)


def parse_chat(body: Any, limits: LimitsConfig) -> ParsedRequest:
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    common = _common(body, limits)
    generation = GenerationRequest(endpoint="chat", messages=_messages(body, limits), **common)
    return ParsedRequest(generation, _include_usage(body, common["stream"]), _user(body))


def parse_completion(body: Any, limits: LimitsConfig) -> ParsedRequest:
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, list):
        raise invalid("only a single prompt string is supported", "prompt", "unsupported_value")
    if not isinstance(prompt, str):
        raise invalid("you must provide a prompt string", "prompt", "missing_required_parameter")
    if body.get("echo"):
        raise invalid("'echo' is not supported", "echo", "unsupported_value")
    common = _common(body, limits)
    if common["max_tokens"] is None:
        common["max_tokens"] = 16  # the OpenAI default for /v1/completions
    generation = GenerationRequest(endpoint="completion", prompt=prompt, **common)
    return ParsedRequest(generation, _include_usage(body, common["stream"]), _user(body))
