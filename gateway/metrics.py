"""Prometheus metrics: request counts and latencies per endpoint, plus gateway counters."""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ansinh_http_requests_total",
            "HTTP requests",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ansinh_http_request_seconds",
            "HTTP request latency",
            ["endpoint"],
            registry=self.registry,
        )
        self.events = Counter(
            "ansinh_events_total", "Gateway events by kind", ["kind"], registry=self.registry
        )

    def init_app(self, app: Flask) -> None:
        app.before_request(self._start)
        app.after_request(self._stop)
        app.add_url_rule("/metrics", "metrics", self.expose)

    def _start(self) -> None:
        g._metrics_start = time.perf_counter()

    def _stop(self, response: Response) -> Response:
        endpoint = request.endpoint or "unknown"
        started = g.pop("_metrics_start", None)
        if started is not None:
            self.latency.labels(endpoint).observe(time.perf_counter() - started)
        self.requests.labels(endpoint, request.method, str(response.status_code)).inc()
        return response

    def expose(self) -> Response:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several gunicorn workers
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
