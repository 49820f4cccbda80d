"""Prometheus metrics, one registry per app instance (tests build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class _Max:
    """The largest value seen so far (kept beside its gauge to compare without reading it)."""

    def __init__(self) -> None:
        self.value = 0.0


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.event_loop_lag_seconds = Histogram(
            "event_loop_lag_seconds",
            "How late the event loop ran a timer (a busy loop delays every socket)",
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        )
        self.event_loop_lag_max_seconds = Gauge(
            "event_loop_lag_max_seconds",
            "The largest event-loop lag since the process started",
            registry=self.registry,
        )
        self.event_loop_lag_max = _Max()
        self.board_connections = Gauge(
            "board_connections",
            "Live-board WebSockets open on this instance",
            registry=self.registry,
        )
        self.board_events_sent = Counter(
            "board_events_sent_total", "Events sent to live boards", registry=self.registry
        )
        self.board_commit_to_send_seconds = Histogram(
            "board_commit_to_send_seconds",
            "From an event's commit to its send on a live board",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.board_slow_clients_cut = Counter(
            "board_slow_clients_cut_total",
            "Live boards disconnected because their queue overflowed",
            registry=self.registry,
        )
