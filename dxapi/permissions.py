from rest_framework import permissions

from initiatives.access import actor_for


class ReadAnyoneWriteAuthenticated(permissions.IsAuthenticatedOrReadOnly):
    """Anyone may read (querysets are scoped); writes need a user or an API key. Whether the
    caller may change the object is decided by the services, at object level."""

    public_reads = True  # documented in the schema as open to anonymous readers

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return actor_for(request).is_authenticated
