"""Who may call an endpoint at all; what each caller may see and do is the policy's
(querysets scoped by the selectors, actions checked by the services)."""

from rest_framework import permissions

from initiatives.access import actor_for


class IsAuthenticatedActor(permissions.BasePermission):
    """A user who logged in, or a valid API key (whose request has no user)."""

    def has_permission(self, request, view) -> bool:
        return actor_for(request).is_authenticated


class ReadAnyoneWriteAuthenticated(IsAuthenticatedActor):
    """Anyone may read (querysets are scoped); writes need a user or an API key. Whether the
    caller may change the object is decided by the services, at object level."""

    public_reads = True  # documented in the schema as open to anonymous readers

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return super().has_permission(request, view)
