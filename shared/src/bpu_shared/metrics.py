"""Prometheus metrics every service exposes at ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "bpu_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram("bpu_http_request_seconds", "HTTP request duration", ["method", "route"])
EVENTS_PUBLISHED = Counter(
    "bpu_events_published_total", "Events published by the outbox relay", ["topic"]
)
EVENTS_CONSUMED = Counter(
    "bpu_events_consumed_total", "Events applied by consumers", ["topic", "group"]
)
DEAD_LETTERS = Counter(
    "bpu_dead_letters_total", "Events sent to a dead-letter topic", ["topic", "group"]
)
CONSUMER_RETRIES = Counter(
    "bpu_consumer_retries_total", "Batches retried after a failure", ["topic", "group"]
)
CONSUMER_LAG = Gauge(
    "bpu_consumer_lag", "Records behind the partition end after the last batch", ["topic", "group"]
)
OUTBOX_BACKLOG = Gauge(
    "bpu_outbox_backlog",
    "Documents with unpublished events found by the relay's last pass",
    ["collection"],
)
OUTBOX_REPUBLISHED = Counter(
    "bpu_outbox_republished_total", "Sent events published again after a broker reset"
)
