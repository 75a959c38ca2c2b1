"""Optimistic concurrency for records with a ``version`` column: the caller says which
version it changes (HTTP ``If-Match``), and the write claims the next version atomically."""

from dataclasses import dataclass

from django.db import models
from django.db.models import F


class StaleVersion(Exception):
    """The caller changes a version of the record that is no longer the current one."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"The record is at version {current_version}.")
        self.current_version = current_version


class VersionRequired(Exception):
    """The caller did not say which version of the record it changes."""


@dataclass(frozen=True)
class Precondition:
    """Which version of a record the caller means to change: a version number, any version
    (``*``, and internal callers), or none given. Checked only after visibility, permission
    and state, so that those answers come first."""

    version: int | None = None
    given: bool = True

    @classmethod
    def any(cls) -> "Precondition":
        return cls(version=None, given=True)

    @classmethod
    def missing(cls) -> "Precondition":
        return cls(version=None, given=False)


ANY_VERSION = Precondition.any()


def claim_version(instance: models.Model, expected: Precondition | int | None) -> None:
    """Move ``instance`` to its next version with a conditional ``UPDATE … WHERE version =
    n`` (any version for ``*``/``None``): of two writers of the same version exactly one
    wins, the other gets ``StaleVersion``. Call it inside the transaction of the change."""
    if isinstance(expected, Precondition):
        if not expected.given:
            raise VersionRequired()
        expected = expected.version
    rows = type(instance).objects.filter(pk=instance.pk)
    if expected is not None:
        rows = rows.filter(version=expected)
    claimed = rows.update(version=F("version") + 1)
    current = type(instance).objects.values_list("version", flat=True).get(pk=instance.pk)
    if not claimed:
        raise StaleVersion(current)
    instance.version = current


def claim_versions(model: type[models.Model], instances: list[models.Model]) -> None:
    """``claim_version`` for many rows that the caller holds locked (``select_for_update``
    in the same transaction): each moves from the version it was read at to the next, or
    nothing moves and ``StaleVersion`` names the first row that changed since."""
    if not instances:
        return
    read_at = {instance.pk: instance.version for instance in instances}
    current = dict(model.objects.filter(pk__in=read_at).values_list("pk", "version"))
    for pk, version in read_at.items():
        if current.get(pk) != version:
            raise StaleVersion(current.get(pk, 0))
    model.objects.filter(pk__in=read_at).update(version=F("version") + 1)
    for instance in instances:
        instance.version += 1
