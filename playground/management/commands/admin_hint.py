from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Say how to sign in to /admin/ while no admin exists (run by `make run`)."

    def handle(self, *args: Any, **options: Any) -> None:
        if get_user_model().objects.filter(is_superuser=True, is_active=True).exists():
            return
        self.stdout.write(
            "\nNo admin yet. To sign in at http://127.0.0.1:8000/admin/, create one with:\n"
            "    .venv/bin/python manage.py createsuperuser\n"
            "then sign in with the username and password you chose.\n"
        )
