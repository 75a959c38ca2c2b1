from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle


def _api_key_prefix(request) -> str | None:
    """The prefix of the API key the request authenticated with (an auth object with a
    ``prefix``: ``initiatives.authentication``), or ``None``."""
    return getattr(getattr(request, "auth", None), "prefix", None)


class ApiKeyRateThrottle(SimpleRateThrottle):
    """A rate per API key (users and anonymous callers have their own throttles)."""

    scope = "api_key"

    def get_cache_key(self, request, view) -> str | None:
        prefix = _api_key_prefix(request)
        if prefix is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": prefix}


class AnonymousRateThrottle(AnonRateThrottle):
    """Anonymous callers by address; requests made with an API key have their own rate."""

    def get_cache_key(self, request, view) -> str | None:
        if _api_key_prefix(request) is not None:
            return None
        return super().get_cache_key(request, view)
