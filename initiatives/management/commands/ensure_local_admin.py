import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "For local use with DEBUG on: create the superuser 'admin' with a random password "
        "and print it, unless a superuser exists already."
    )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("Refusing to create a local admin with DEBUG off.")
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            self.stdout.write("A superuser exists already; log in to /admin/ with it.")
            return
        password = secrets.token_urlsafe(12)
        users.create_superuser("admin", "admin@localhost", password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Admin: http://127.0.0.1:8000/admin/  user: admin  password: {password}"
            )
        )
