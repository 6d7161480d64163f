"""The engine's figures for /metrics (Prometheus): counted where they happen."""

from prometheus_client import Counter, Histogram

RUNS = Counter(
    "sandpit_runs_total",
    "Runs that ended, by language, kind and status",
    ["language", "kind", "status"],
)
RUN_SECONDS = Histogram(
    "sandpit_run_duration_seconds",
    "Time from a slot to the end of a run, by language",
    ["language"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
CONTAINER_STARTS = Counter("sandpit_container_starts_total", "Sandbox containers started")
CONTAINER_START_SECONDS = Histogram(
    "sandpit_container_start_seconds",
    "Time from asking Docker for a sandbox to its worker being ready",
    buckets=(0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30),
)
CONTAINER_FAILURES = Counter(
    "sandpit_container_start_failures_total", "Sandbox containers that failed to start or get ready"
)
EGRESS_REQUESTS = Counter(
    "sandpit_egress_requests_total",
    "Requests through runs' egress proxies, by outcome",
    ["outcome"],  # sent, refused, failed
)
