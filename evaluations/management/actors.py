"""Who a management command acts as."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from initiatives.access import Actor, actor_for_user

# Without --user a command acts as an administrator: it is run on the server.
SYSTEM = Actor(is_superuser=True)


def command_actor(username: str | None) -> Actor:
    """``SYSTEM``, or with ``--user`` that user with their permissions."""
    if not username:
        return SYSTEM
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user '{username}'.")
    return actor_for_user(user)
