"""Who is calling and what they may do: the one place that answers it.

An ``Actor`` is resolved once per request from the user (memberships) or the API key. The
selectors that scope every queryset, the permission classes and the services all ask it.

- superuser: everything.
- secretariat of a plan: everything in that plan (structure, rounds, review, publication).
- department editor: reads its departments' evaluations in any state; edits them in an
  open round and submits them. Viewer: reads them, writes nothing.
- API key: limited to its plan, it acts as a user of its role would: the plan's secretariat;
  an editor or viewer of its department, or (bound to none) of every department of the plan;
  or a reader, who reads what the public reads. No key is a superuser, so none may create
  or delete a plan.
- anyone else: published rounds only.
"""

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache

from initiatives.models import (
    ApiKey,
    ApiKeyRole,
    Department,
    DepartmentMembership,
    DepartmentRole,
    api_key_cache_name,
)

User = AbstractBaseUser | AnonymousUser


@dataclass(frozen=True)
class Actor:
    user: AbstractBaseUser | None = None
    api_key: ApiKey | None = None
    is_superuser: bool = False
    secretariat_plan_ids: frozenset[int] = field(default_factory=frozenset)
    editor_department_ids: frozenset[int] = field(default_factory=frozenset)
    viewer_department_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None or self.api_key is not None

    @property
    def plan_limit(self) -> int | None:
        """The one plan an API key is limited to; ``None`` for users."""
        return self.api_key.plan_id if self.api_key else None

    @property
    def readable_department_ids(self) -> frozenset[int]:
        return self.editor_department_ids | self.viewer_department_ids

    @property
    def is_any_secretariat(self) -> bool:
        return self.is_superuser or bool(self.secretariat_plan_ids)

    def is_secretariat_of(self, plan_id: int) -> bool:
        return self.is_superuser or plan_id in self.secretariat_plan_ids

    def may_edit_for(self, department_ids: set[int] | frozenset[int]) -> bool:
        return bool(self.editor_department_ids & set(department_ids))


ANONYMOUS = Actor()


def may_see_who_changed(actor: Actor, *, plan_id: int, department_ids: Iterable[int]) -> bool:
    """Who changed a record (user names, API keys, request ids, review comments) is for the
    people who work on it: the plan's secretariat and its departments' members and keys. The
    public reads the history of published records without them.

    ``department_ids`` is read only for callers who are members of some department, so it
    may be a lazy queryset: the public's reads cost no query."""
    if actor.is_secretariat_of(plan_id):
        return True
    readable = actor.readable_department_ids
    return bool(readable) and not readable.isdisjoint(department_ids)


def actor_for_user(user: User | None) -> Actor:
    if user is None or not user.is_authenticated:
        return ANONYMOUS
    if user.is_superuser:
        return Actor(user=user, is_superuser=True)
    memberships = DepartmentMembership.objects.filter(user=user).values_list(
        "department_id", "role"
    )
    editors = frozenset(d for d, role in memberships if role == DepartmentRole.EDITOR)
    viewers = frozenset(d for d, role in memberships if role == DepartmentRole.VIEWER)
    return Actor(
        user=user,
        secretariat_plan_ids=frozenset(
            user.secretariat_memberships.values_list("plan_id", flat=True)
        ),
        editor_department_ids=editors,
        viewer_department_ids=viewers,
    )


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def resolve_api_key(key: str) -> ApiKey:
    """The usable (not revoked) key whose secret is ``key``, else ``ApiKey.DoesNotExist``;
    expiry is the caller's to check.

    Resolved keys are cached for ``API_KEY_CACHE_SECONDS`` under their prefix, with the
    SHA-256 of the whole key they were verified with: only that same key is answered from the
    cache, any other secret for the prefix is checked against the database. A change to the
    key replaces the entry with a marker (``models.forget_api_keys``) that keeps it out of
    the cache until the marker expires."""
    prefix = key.partition(".")[0]
    seconds = settings.API_KEY_CACHE_SECONDS
    if seconds <= 0 or not prefix:
        return ApiKey.objects.get_from_key(key)
    digest = _digest(key)
    name = api_key_cache_name(prefix)
    cached = cache.get(name)
    if isinstance(cached, dict) and hmac.compare_digest(cached["digest"], digest):
        return ApiKey.from_db("default", list(cached["fields"]), list(cached["fields"].values()))
    api_key = ApiKey.objects.get_from_key(key)
    if cached is None:  # not after a change (the marker): the database's answer may be older
        fields = {f.attname: getattr(api_key, f.attname) for f in ApiKey._meta.concrete_fields}
        cache.add(name, {"digest": digest, "fields": fields}, seconds)
    return api_key


def actor_for_api_key(key: ApiKey) -> Actor:
    match key.role:
        case ApiKeyRole.SECRETARIAT:
            return Actor(api_key=key, secretariat_plan_ids=frozenset({key.plan_id}))
        case ApiKeyRole.EDITOR | ApiKeyRole.VIEWER:
            if key.department_id is not None:
                departments = frozenset({key.department_id})
            else:
                departments = frozenset(
                    Department.objects.filter(plan_id=key.plan_id).values_list("id", flat=True)
                )
            if key.role == ApiKeyRole.EDITOR:
                return Actor(api_key=key, editor_department_ids=departments)
            return Actor(api_key=key, viewer_department_ids=departments)
    # A reader (and, failing closed, any role this code does not know): the public's reads.
    return Actor(api_key=key)


def actor_for(request) -> Actor:
    """The request's actor, resolved once and kept on the request."""
    actor = getattr(request, "_dxapi_actor", None)
    if actor is None:
        auth = getattr(request, "auth", None)
        actor = (
            actor_for_api_key(auth)
            if isinstance(auth, ApiKey)
            else actor_for_user(getattr(request, "user", None))
        )
        request._dxapi_actor = actor
    return actor
