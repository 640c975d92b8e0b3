"""Prometheus metrics: requests, tokens and latency by model and status.

With several workers, `serve` sets PROMETHEUS_MULTIPROC_DIR and each worker writes
its samples there; /metrics then aggregates across workers.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess

LABEL_SETS_MAX = 10_000
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "revstream_requests", "Requests by model, endpoint and HTTP status",
            ["model", "endpoint", "status"], registry=self.registry,
        )
        self.tokens = Counter(
            "revstream_tokens", "Tokens by model and kind (prompt, completion)",
            ["model", "kind"], registry=self.registry,
        )
        self.latency = Histogram(
            "revstream_request_duration_seconds", "Request duration by model and HTTP status",
            ["model", "status"], buckets=LATENCY_BUCKETS_S, registry=self.registry,
        )
        self.ttft = Histogram(
            "revstream_time_to_first_token_seconds", "Time to the first generated text by model",
            ["model"], buckets=LATENCY_BUCKETS_S, registry=self.registry,
        )

        # Labelled children, looked up once: `labels()` validates and locks on every call.
        self._children: dict[tuple, object] = {}
        # Exposition text other parts add after the samples above (the licence's MAU gauges,
        # which come from the store and are the same whichever worker answers).
        self._texts: list = []

    def add_text(self, source) -> None:
        """Add a `() -> bytes` of Prometheus exposition text to every `render`."""
        self._texts.append(source)

    def _child(self, metric, *labels):
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            if len(self._children) >= LABEL_SETS_MAX:
                return metric.labels(*labels)
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(self, model: str, endpoint: str, status: int, duration_s: float) -> None:
        code = str(status)
        self._child(self.requests, model, endpoint, code).inc()
        self._child(self.latency, model, code).observe(duration_s)

    def observe_tokens(self, model: str, tokens_prompt: int, tokens_completion: int, ttft_ms: int | None) -> None:
        self._child(self.tokens, model, "prompt").inc(tokens_prompt)
        self._child(self.tokens, model, "completion").inc(tokens_completion)
        if ttft_ms is not None:
            self._child(self.ttft, model).observe(ttft_ms / 1000)

    def render(self) -> tuple[bytes, str]:
        extra = b"".join(source() for source in self._texts)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry) + extra, CONTENT_TYPE_LATEST
        return generate_latest(self.registry) + extra, CONTENT_TYPE_LATEST
