"""Who is using the playground: a signed-in user, or a guest kept in the browser's session.

Each browser gets its own guest user (made on its first run), so a guest's history and
unshared runs are its own; a fresh browser session is a stranger to them.
"""

import ipaddress
import secrets
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest

GUEST_SESSION_KEY = "sandpit_guest_id"
GUEST_PREFIX = "guest-"


def viewer_id(user: Any, session: Any) -> int | None:
    """The id of whoever this is (user or guest), or None for a visitor who never ran anything."""
    if user is not None and user.is_authenticated:
        return int(user.pk)
    guest = session.get(GUEST_SESSION_KEY) if session is not None else None
    return int(guest) if guest is not None else None


def playground_owner(request: HttpRequest) -> User | None:
    """The owner of runs made here: the user, else this browser's guest (made now if
    anonymous use is on), else None."""
    if request.user.is_authenticated:
        return request.user
    if not settings.PLAYGROUND_ANONYMOUS:
        return None
    guest_id = request.session.get(GUEST_SESSION_KEY)
    if guest_id is not None:
        guest = User.objects.filter(pk=guest_id, is_active=True).first()
        if guest is not None:
            return guest
    guest = User.objects.create_user(username=GUEST_PREFIX + secrets.token_hex(8))
    request.session[GUEST_SESSION_KEY] = guest.pk
    return guest


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
