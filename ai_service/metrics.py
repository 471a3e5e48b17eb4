"""The service's Prometheus metrics (``GET /metrics``), defined once; the API and the workers update them.

Gauges that describe the database (queue depth, oldest waiting item) and the connection pool are not kept here:
they are read when ``/metrics`` is scraped (``ai_service.api.observability``), so every replica reports the
same truth.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ALERTS = Counter(
    "nocai_alerts_received_total",
    "Alerts received through the webhooks, by format and outcome (new, repeat, resolved, ignored).",
    ["format", "outcome"],
)
PAYLOADS_REFUSED = Counter("nocai_payloads_refused_total", "Webhook payloads refused, by error code.", ["code"])
TRIAGES = Counter("nocai_triages_total", "Triages completed by the workers, by policy band.", ["band"])
TRIAGE_SECONDS = Histogram(
    "nocai_triage_seconds",
    "Time to judge one alert (retrieval, vote, plan, policy), without the queue wait.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
QUEUE_DELAY_SECONDS = Histogram(
    "nocai_queue_delay_seconds",
    "From an alert's acknowledgement to a worker starting its triage.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
ERRORS = Counter("nocai_errors_total", "Unexpected failures, by where they happened.", ["where"])
REQUESTS = Counter(
    "nocai_http_requests_total", "HTTP requests, by method, route and status.", ["method", "route", "status"]
)
REQUEST_SECONDS = Histogram(
    "nocai_http_request_seconds",
    "HTTP request latency, by route.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0),
)
