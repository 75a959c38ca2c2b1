"""Model permissions that follow from a user's role, so that nobody grants Django permissions
by hand: ``settings.AUTHENTICATION_BACKENDS`` lists ``RoleBackend`` after Django's own.

- every member (of a department or of a plan's secretariat) views the plan's structure,
  rounds, evaluations and KPI actuals;
- a department editor also changes evaluations and adds, changes and deletes KPI actuals;
- the secretariat also changes the structure of a plan (plans are added and deleted by
  superusers only), opens rounds, changes evaluations and KPI actuals and manages the
  memberships of its plan.

These are model-level answers: which records, and whether their state allows it now, is for
the admin pages to ask ``evaluations.policy`` and ``initiatives.services`` (each ModelAdmin
scopes its queryset and answers ``has_*_permission(request, obj)``). Object permissions
(``has_perm(perm, obj)``) are not answered here.
"""

from django.contrib.auth.backends import BaseBackend

from initiatives.access import actor_for_user

STRUCTURE_MODELS = (
    "initiatives.plan",
    "initiatives.department",
    "initiatives.pillar",
    "initiatives.policyarea",
    "initiatives.initiative",
    "initiatives.initiativedepartment",
    "initiatives.kpi",
    "initiatives.kpitarget",
)
CYCLE_MODELS = ("evaluations.round", "evaluations.evaluation", "evaluations.kpiactual")
MEMBERSHIP_MODELS = ("initiatives.departmentmembership", "initiatives.secretariatmembership")
# Only a superuser creates or deletes a plan (``initiatives.services``).
SUPERUSER_ONLY = frozenset({"initiatives.add_plan", "initiatives.delete_plan"})


def _perms(models: tuple[str, ...], *actions: str) -> frozenset[str]:
    perms = set()
    for model in models:
        app_label, model_name = model.split(".")
        perms.update(f"{app_label}.{action}_{model_name}" for action in actions)
    return frozenset(perms)


MEMBER_PERMS = _perms(STRUCTURE_MODELS + CYCLE_MODELS, "view")
EDITOR_PERMS = (
    MEMBER_PERMS
    | _perms(("evaluations.evaluation",), "change")
    | _perms(("evaluations.kpiactual",), "add", "change", "delete")
)
SECRETARIAT_PERMS = (
    EDITOR_PERMS
    | _perms(STRUCTURE_MODELS, "add", "change", "delete") - SUPERUSER_ONLY
    | _perms(("evaluations.round",), "add", "change")
    | _perms(MEMBERSHIP_MODELS, "view", "add", "change", "delete")
    # Its plans' API keys (``ApiKeyAdmin`` scopes them): made, revoked, never deleted.
    | _perms(("initiatives.apikey",), "view", "add", "change")
)


def role_permissions(user) -> frozenset[str]:
    """The model permissions of an active user's memberships (cached on the user object,
    which lives for one request)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_dxapi_role_perms", None)
    if cached is None:
        actor = actor_for_user(user)
        if actor.is_superuser or actor.secretariat_plan_ids:
            cached = SECRETARIAT_PERMS
        elif actor.editor_department_ids:
            cached = EDITOR_PERMS
        elif actor.viewer_department_ids:
            cached = MEMBER_PERMS
        else:
            cached = frozenset()
        user._dxapi_role_perms = cached
    return cached


class RoleBackend(BaseBackend):
    """Authenticates nobody (``authenticate`` returns ``None``); answers permissions only."""

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if obj is not None:
            return set()
        return set(role_permissions(user_obj))

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        return obj is None and perm in role_permissions(user_obj)

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        prefix = f"{app_label}."
        return any(perm.startswith(prefix) for perm in role_permissions(user_obj))


def is_member(user) -> bool:
    """A user with any membership (department or secretariat): the admin lets them in."""
    return bool(role_permissions(user))
