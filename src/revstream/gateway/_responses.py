"""OpenAI response bodies and stream chunks, built from backend events."""

from __future__ import annotations

import orjson

from ..backends import Finish

SYSTEM_FINGERPRINT = "revstream"


def usage_body(tokens_prompt: int, tokens_completion: int) -> dict:
    return {
        "prompt_tokens": tokens_prompt,
        "completion_tokens": tokens_completion,
        "total_tokens": tokens_prompt + tokens_completion,
    }


class ResponseBuilder:
    """Shapes text and a Finish into the body (or chunks) of one endpoint."""

    __slots__ = ("endpoint", "response_id", "created", "model", "include_usage")

    def __init__(self, endpoint: str, response_id: str, created: int, model: str, include_usage: bool) -> None:
        self.endpoint = endpoint
        self.response_id = response_id
        self.created = created
        self.model = model
        self.include_usage = include_usage

    def _envelope(self, chunk: bool) -> dict:
        kind = "chat.completion" if self.endpoint == "chat" else "text_completion"
        return {
            "id": self.response_id,
            "object": kind + (".chunk" if chunk and self.endpoint == "chat" else ""),
            "created": self.created,
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }

    def complete(self, text: str, finish: Finish, sponsored: dict | None = None) -> bytes:
        body = self._envelope(chunk=False)
        if self.endpoint == "chat":
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish.reason,
            }
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish.reason}
        _add_recitation(choice, finish)
        body["choices"] = [choice]
        body["usage"] = usage_body(finish.tokens_prompt, finish.tokens_completion)
        if sponsored is not None:  # ads (issue 13): beside the answer, never inside it
            body["sponsored"] = sponsored
        return orjson.dumps(body)

    def _chunk(self, choice: dict | None, usage: dict | None = None) -> bytes:
        body = self._envelope(chunk=True)
        body["choices"] = [choice] if choice is not None else []
        if self.include_usage:
            body["usage"] = usage
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def first_chunk(self) -> bytes:
        if self.endpoint != "chat":
            return b""
        return self._chunk({"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None})

    def text_chunk(self, text: str) -> bytes:
        if self.endpoint == "chat":
            choice = {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": None}
        return self._chunk(choice)

    def finish_chunks(self, finish: Finish, sponsored: dict | None = None) -> bytes:
        if self.endpoint == "chat":
            choice = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish.reason}
        else:
            choice = {"index": 0, "text": "", "logprobs": None, "finish_reason": finish.reason}
        _add_recitation(choice, finish)
        out = self._chunk(choice)
        if self.include_usage:
            out += self._chunk(None, usage_body(finish.tokens_prompt, finish.tokens_completion))
        if sponsored is not None:  # ads (issue 13): one chunk after the usage chunk, before [DONE]
            out += b"data: " + orjson.dumps({**self._envelope(chunk=True), "choices": [], "sponsored": sponsored}) + b"\n\n"
        return out + b"data: [DONE]\n\n"


def _add_recitation(choice: dict, finish: Finish) -> None:
    """Recitation (issue 16): the registered work that stopped the response or was cited in
    it, on the choice that carries the finish reason (see `_recitation.GuardedFinish`)."""
    recitation = getattr(finish, "recitation", None)
    if recitation is not None:
        choice["recitation"] = recitation


def error_chunk(body: dict) -> bytes:
    """An error that happens after the stream began: sent as a final event, as OpenAI does."""
    return b"data: " + orjson.dumps(body) + b"\n\ndata: [DONE]\n\n"
