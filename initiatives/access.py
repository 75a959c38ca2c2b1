"""Who may see and change what: the one place that answers it for plan structure."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

User = AbstractBaseUser | AnonymousUser


def is_secretariat(user: User | None) -> bool:
    """The secretariat (DX戦略本部事務局) sees everything; staff accounts act as it."""
    return bool(user and user.is_authenticated and (user.is_superuser or user.is_staff))
