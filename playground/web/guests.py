"""Who is using the playground: a signed-in user, or a guest kept in the browser's session.

Each browser gets its own guest user (made on its first run), so a guest's history and
unshared runs are its own; a fresh browser session is a stranger to them.

Guests are users rows, so they are bounded twice: a client address may make only
NEW_GUESTS_PER_HOUR of them an hour, and a guest nobody can be any more (its session
is long gone) who shared nothing is swept (guests_sweep). Shared runs keep their guest.
"""

import ipaddress
import logging
import secrets
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest
from django.utils import timezone

from playground.api.errors import ApiError
from playground.models import Execution, Notebook
from playground.ratelimits import over_rate

log = logging.getLogger(__name__)
GUEST_SESSION_KEY = "sandpit_guest_id"
GUEST_PREFIX = "guest-"
# A person needs one guest per browser session, and a session lasts two weeks; thirty an
# hour lets a classroom behind one NAT address all start at once, and keeps a script
# that drops its cookies to 720 users rows a day per address instead of one per run.
NEW_GUESTS_PER_HOUR = 30
NEW_GUESTS_WINDOW_S = 3600
# One IPv6 host usually holds a whole /64: counted per address, it could rotate freely.
IPV6_CLIENT_PREFIX = 64
# A guest is reached only through the browser session that made it, which lasts
# SESSION_COOKIE_AGE (two weeks by default) from when it was last saved: this long with
# no run, or that age if longer, and nobody can be that guest any more.
GUEST_IDLE_DAYS = 30
GUEST_SWEEP_BATCH = 500


def viewer_id(user: Any, session: Any) -> int | None:
    """The id of whoever this is (user or guest), or None for a visitor who never ran anything."""
    if user is not None and user.is_authenticated:
        return int(user.pk)
    guest = session.get(GUEST_SESSION_KEY) if session is not None else None
    return int(guest) if guest is not None else None


def playground_owner(request: HttpRequest) -> User | None:
    """The owner of runs made here: the user, else this browser's guest (made now if
    anonymous use is on; ApiError(429) past NEW_GUESTS_PER_HOUR), else None."""
    if request.user.is_authenticated:
        return request.user
    if not settings.PLAYGROUND_ANONYMOUS:
        return None
    guest_id = request.session.get(GUEST_SESSION_KEY)
    if guest_id is not None:
        guest = User.objects.filter(pk=guest_id, is_active=True).first()
        if guest is not None:
            return guest
    refuse_new_guest_over_rate(request)
    guest = User.objects.create_user(username=GUEST_PREFIX + secrets.token_hex(8))
    request.session[GUEST_SESSION_KEY] = guest.pk
    return guest


def refuse_new_guest_over_rate(request: HttpRequest) -> None:
    """Count a new guest for the client's address; ApiError(429) past the hour's cap."""
    if over_rate(
        f"new-guest:{address_block(client_address(request))}",
        NEW_GUESTS_PER_HOUR,
        window_s=NEW_GUESTS_WINDOW_S,
    ):
        raise ApiError(
            429,
            "rate_limited",
            f"{NEW_GUESTS_PER_HOUR} new guests an hour may start from one address, and "
            "yours has; keep your browser's cookies to stay the guest you were, sign in, "
            "or try again within the hour",
            retry_after_s=NEW_GUESTS_WINDOW_S,
        )


def address_block(address: str) -> str:
    """What one client holds: its IPv4 address, or the /64 around its IPv6 address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(ip)


def guests_sweep() -> int:
    """Delete guests nobody can be any more, with all their runs and notebooks, unless
    one of those is shared (its permalink must keep working) or they own anything else;
    how many."""
    idle_for = max(timedelta(days=GUEST_IDLE_DAYS), timedelta(seconds=settings.SESSION_COOKIE_AGE))
    cutoff = timezone.now() - idle_for
    kept_runs = Execution.objects.filter(owner=OuterRef("pk")).filter(
        Q(started_at__gte=cutoff) | Q(is_shared=True)
    )
    kept_notebooks = Notebook.objects.filter(owner=OuterRef("pk")).filter(
        Q(updated_at__gte=cutoff) | Q(is_shared=True)
    )
    idle = (
        User.objects.filter(
            username__startswith=GUEST_PREFIX,
            password__startswith=UNUSABLE_PASSWORD_PREFIX,
            is_staff=False,
            is_superuser=False,
            date_joined__lt=cutoff,
        )
        .filter(Q(last_login__isnull=True) | Q(last_login__lt=cutoff))
        .exclude(Exists(kept_runs))
        .exclude(Exists(kept_notebooks))
        # Guests cannot make these today; were that to change, a sweep must not take them.
        .filter(api_keys=None, secrets=None, tools=None, runtimes=None)
    )
    swept = 0
    while ids := list(idle.values_list("pk", flat=True)[:GUEST_SWEEP_BATCH]):
        # Judged again as they go: a run shared since the ids were read keeps its guest.
        _, deleted = idle.filter(pk__in=ids).delete()
        swept += deleted.get(User._meta.label, 0)
    if swept:
        log.info("swept %d guests idle for %d days who shared nothing", swept, idle_for.days)
    return swept


aplayground_owner = sync_to_async(playground_owner)


def is_guest(user: User) -> bool:
    return user.username.startswith(GUEST_PREFIX) and not user.has_usable_password()


def is_trusted_proxy(address: str) -> bool:
    """Whether `address` is one of SANDPIT_TRUSTED_PROXIES, whose X-Forwarded-For counts."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.SANDPIT_TRUSTED_PROXIES)


def client_address(request: HttpRequest) -> str:
    """Who sent this: the socket's peer, or what a trusted proxy in front says it saw.

    X-Forwarded-For is anyone's to write, so it counts only when the peer is one of
    SANDPIT_TRUSTED_PROXIES, and then its rightmost address that is not one of them.
    """
    peer = str(request.META.get("REMOTE_ADDR") or "unknown")
    if not is_trusted_proxy(peer):
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not is_trusted_proxy(hop):
            return str(hop)
    return peer
