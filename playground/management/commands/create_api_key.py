from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from playground.runs.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key (and its user when missing); the key alone is the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="what the key is for, e.g. 'laptop'")
        parser.add_argument("--user", default="sandpit", help="the owner's username")

    def handle(self, *args: Any, name: str, user: str, **options: Any) -> None:
        owner, created = get_user_model().objects.get_or_create(username=user)
        if created:
            self.stderr.write(f"created user {user!r} (no password: it signs in with keys only)")
        api_key, key = api_key_create(owner=owner, name=name)
        self.stderr.write(f"API key {api_key.name!r} for {user!r}; it is shown only this once:")
        self.stdout.write(key)
