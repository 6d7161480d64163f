"""For load balancers and monitoring: /healthz, /readyz and /metrics.

- /healthz: the process answers.
- /readyz: the database, Redis (when set) and Docker answer; 503 naming what does not.
- /metrics: Prometheus' text format, to clients on this machine only unless
  SANDPIT_METRICS_TOKEN is set, and then to whoever sends it as a bearer token.
"""

import asyncio
import hmac
import ipaddress
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, Histogram, generate_latest

from playground.api.guard import bearer_token
from playground.web.guests import client_address, is_trusted_proxy
from playground.web.middleware import AsyncMiddleware
from sandbox.engine import get_engine

CHECK_TIMEOUT_S = 3.0
# The headers by which proxies say whom they forward for (WSGI names).
FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")

QUEUE_DEPTH = Gauge("sandpit_queue_depth", "Runs waiting for a slot on this node")
WARM_CONTAINERS = Gauge("sandpit_warm_containers", "Ready sandboxes per pool", ["image", "family"])
AWAITING_REMOVAL = Gauge(
    "sandpit_containers_awaiting_removal", "Finished containers left for a quiet moment"
)


REQUEST_SECONDS = Histogram(
    "sandpit_request_duration_seconds",
    "Time to answer an HTTP request, by route and method",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


class RequestMetrics(AsyncMiddleware):
    """Times every request, labelled by its route pattern (never its path: ids would
    make a label per run)."""

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        response = await self.get_response(request)
        match = request.resolver_match
        route = str(match.route) if match is not None else "unmatched"
        REQUEST_SECONDS.labels(route, request.method or "").observe(time.monotonic() - started)
        return response


async def healthz(request: HttpRequest) -> HttpResponse:
    # Async, with no database: it never waits behind the one thread sync views share.
    return JsonResponse({"status": "ok", "node": settings.SANDBOX_INSTANCE})


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    cache.set("sandpit:readyz", "1", 10)


async def readyz(request: HttpRequest) -> HttpResponse:
    engine = get_engine()
    checks = {
        "database": sync_to_async(_database)(),
        "docker": engine.adapter.ping(),
        "runtime": engine.adapter.runtime(),
    }
    if settings.REDIS_URL:
        checks["redis"] = sync_to_async(_redis)()
    failing = {}
    for name, check in checks.items():
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                await check
        except (Exception, TimeoutError) as exc:
            failing[name] = type(exc).__name__
    body: dict[str, object] = {
        "status": "ready" if not failing else "not ready",
        "failing": failing,
    }
    if engine.runtime:  # crun, or runc and why not crun (sandbox/docker/oci.py)
        body["runtime"] = engine.runtime
    return JsonResponse(body, status=503 if failing else 200)


def _allowed(request: HttpRequest) -> bool:
    token = settings.SANDPIT_METRICS_TOKEN
    if token:
        return hmac.compare_digest(bearer_token(request), token)
    return _from_this_machine(request)


def _from_this_machine(request: HttpRequest) -> bool:
    """Whether the client, not merely the last hop, is on loopback.

    A proxy on this host (nginx in front of `make cluster`) makes every peer loopback:
    behind a trusted proxy the client is the one its X-Forwarded-For names. A request
    forwarded by a peer not in SANDPIT_TRUSTED_PROXIES, or naming its client in another
    header only, came from a client we cannot judge: refused, not taken for the proxy.
    """
    peer = str(request.META.get("REMOTE_ADDR", ""))
    if any(header in request.META for header in FORWARDING_HEADERS):
        if not is_trusted_proxy(peer) or "HTTP_X_FORWARDED_FOR" not in request.META:
            return False
        peer = client_address(request)
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


async def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return JsonResponse(
            {
                "error": {
                    "code": "forbidden",
                    "message": "metrics answer clients on this machine (through a proxy "
                    "only if it is in SANDPIT_TRUSTED_PROXIES), or whoever sends "
                    "SANDPIT_METRICS_TOKEN as a bearer token",
                }
            },
            status=403,
        )
    engine = get_engine()
    QUEUE_DEPTH.set(engine.admission.waiting)
    AWAITING_REMOVAL.set(engine.factory.awaiting_removal)
    WARM_CONTAINERS.clear()
    for pool in engine.pools():
        WARM_CONTAINERS.labels(pool.spec.image, pool.spec.family.value).set(pool.ready_count)
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
