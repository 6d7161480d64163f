"""Guests are users rows: how many a client address may make, and which are swept."""

import asyncio
import ipaddress
import json
from datetime import timedelta
from typing import cast

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.http import HttpResponse
from django.test import AsyncClient, Client
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from playground.models import Execution
from playground.web import guests
from playground.web.guests import GUEST_IDLE_DAYS, GUEST_PREFIX, guests_sweep
from sandbox.engine import Engine

RUN = {"mode": "script", "language": "python", "code": "print(1)"}


def _guests() -> int:
    return User.objects.filter(username__startswith=GUEST_PREFIX).count()


async def _wait_until_finished(execution_id: str) -> None:
    """Let a started run finish inside this test's database."""
    for _ in range(200):
        if (await Execution.objects.aget(id=execution_id)).is_finished:
            return
        await asyncio.sleep(0.05)


@pytest.mark.django_db(transaction=True)
async def test_a_client_past_its_new_guests_an_hour_gets_a_429_and_its_guests_still_run(
    engine: Engine, settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guests, "NEW_GUESTS_PER_HOUR", 2)
    # Clients told apart by what the proxy in front says, as behind `make cluster`'s.
    settings.SANDPIT_TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.0/8")]
    cache.clear()
    # A client of its own per browser: a fresh session, so a fresh guest.
    first, second, third, elsewhere = (AsyncClient() for _ in range(4))

    async def run(browser: AsyncClient, address: str) -> HttpResponse:
        headers = {"X-Forwarded-For": address}
        answer = await browser.post("/runs", RUN, content_type="application/json", headers=headers)
        return cast(HttpResponse, answer)

    # Two addresses of one IPv6 /64 are one client: one host holds the whole /64.
    answers = [await run(first, "2001:db8:1:2::1"), await run(second, "2001:db8:1:2::2")]
    refused = await run(third, "2001:db8:1:2::3")
    again = await run(first, "2001:db8:1:2::1")
    other = await run(elsewhere, "198.51.100.7")

    assert [a.status_code for a in answers] == [201, 201]
    assert refused.status_code == 429
    error = json.loads(refused.content)["error"]
    assert error["code"] == "rate_limited"
    assert "2 new guests an hour" in error["message"] and "sign in" in error["message"]
    assert refused["Retry-After"] == "3600"
    # The cap is on new guests, not runs: the guests it made go on running.
    assert again.status_code == 201
    assert other.status_code == 201
    assert await User.objects.filter(username__startswith=GUEST_PREFIX).acount() == 3
    for answer in (*answers, again, other):
        await _wait_until_finished(json.loads(answer.content)["id"])


def _run(owner: User, *, days_ago: int, shared: bool = False) -> Execution:
    return Execution.objects.create(
        owner=owner,
        kind="script",
        language="python",
        code="print(1)",
        status="succeeded",
        is_shared=shared,
        started_at=timezone.now() - timedelta(days=days_ago),
    )


def _guest(*, joined_days_ago: int) -> User:
    # As the playground makes them (playground/web/guests.py): no usable password.
    guest = User.objects.create_user(username=f"{GUEST_PREFIX}{User.objects.count():016x}")
    guest.date_joined = timezone.now() - timedelta(days=joined_days_ago)
    guest.save()
    return guest


@pytest.mark.django_db
def test_guests_idle_past_their_session_are_swept_but_a_shared_run_keeps_its_guest() -> None:
    long_ago = GUEST_IDLE_DAYS + 5
    gone = _guest(joined_days_ago=long_ago)
    gone_run = _run(gone, days_ago=long_ago)
    sharer = _guest(joined_days_ago=long_ago)
    shared_run = _run(sharer, days_ago=long_ago, shared=True)
    unshared_of_sharer = _run(sharer, days_ago=long_ago)
    still_running = _guest(joined_days_ago=long_ago)
    _run(still_running, days_ago=1)
    new_guest = _guest(joined_days_ago=1)
    user = User.objects.create_user(username="someone", password="pw-of-someone")
    user.date_joined = timezone.now() - timedelta(days=long_ago)
    user.save()

    assert guests_sweep() == 1

    assert not User.objects.filter(pk=gone.pk).exists()
    assert not Execution.objects.filter(pk=gone_run.pk).exists()
    kept = set(User.objects.values_list("pk", flat=True))
    assert kept == {sharer.pk, still_running.pk, new_guest.pk, user.pk}
    # Nothing a user submitted that anyone can still reach is lost: the permalink works.
    assert Client().get(f"/e/{shared_run.id}").status_code == 200
    assert Execution.objects.filter(pk=unshared_of_sharer.pk).exists()
    assert guests_sweep() == 0


@pytest.mark.django_db
def test_a_longer_session_age_keeps_guests_as_long_as_a_browser_may_hold_them(
    settings: SettingsWrapper,
) -> None:
    settings.SESSION_COOKIE_AGE = (GUEST_IDLE_DAYS + 30) * 24 * 3600
    guest = _guest(joined_days_ago=GUEST_IDLE_DAYS + 5)
    assert guests_sweep() == 0
    assert User.objects.filter(pk=guest.pk).exists()
    assert _guests() == 1
