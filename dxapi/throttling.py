from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle

from initiatives.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """A rate per API key (users and anonymous callers have their own throttles)."""

    scope = "api_key"

    def get_cache_key(self, request, view) -> str | None:
        api_key = getattr(request, "auth", None)
        if not isinstance(api_key, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": api_key.prefix}


class AnonymousRateThrottle(AnonRateThrottle):
    """Anonymous callers by address; requests made with an API key have their own rate."""

    def get_cache_key(self, request, view) -> str | None:
        if isinstance(getattr(request, "auth", None), ApiKey):
            return None
        return super().get_cache_key(request, view)
