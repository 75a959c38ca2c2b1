"""Liveness and readiness for load balancers and orchestrators."""

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from dxapi import replicas


@require_GET
def live(request: HttpRequest) -> JsonResponse:
    """The process answers."""
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """The process answers and its database does.

    With a read replica, its state is reported too (``replica``: up or down, and
    ``replica_lag_seconds``) but does not decide readiness: while the replica is down, reads
    go to the primary (``dxapi.replicas``), and a lagging replica still serves reads (a
    caller's own writes are read from the primary), so the process serves either way.
    """
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    body: dict[str, object] = {"status": "ok", "database": "up"}
    if replicas.replica_configured():
        lag = replicas.replica_lag_seconds()
        body["replica"] = "down" if lag is replicas.UNREACHABLE else "up"
        body["replica_lag_seconds"] = None if lag is replicas.UNREACHABLE else lag
    return JsonResponse(body)
