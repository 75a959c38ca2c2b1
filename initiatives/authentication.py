"""API keys for other government systems: ``Authorization: Api-Key <key>``."""

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from dxapi.middleware import set_current_api_key
from initiatives.access import resolve_api_key
from initiatives.models import ApiKey

KEYWORD = "Api-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticates a request by its key; the request's ``auth`` is the ``ApiKey``.

    Keys are stored hashed, and revoked or expired keys are refused with 401. A resolved key
    is cached briefly (``access.resolve_api_key``); a change to it clears the cache at once.
    """

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, key = header.partition(" ")
        if keyword != KEYWORD:
            return None
        key = key.strip()
        try:
            api_key = resolve_api_key(key)
        except ApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("The API key has expired.")
        set_current_api_key(api_key.prefix)
        return (AnonymousUser(), api_key)

    def authenticate_header(self, request) -> str:
        return KEYWORD


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Api-Key <key>`. Keys are issued in the admin or with `manage.py "
                "create_api_key`, shown once, and limited to one plan. Each carries a role "
                "within that plan and may do what a user of that role may: `secretariat` "
                "(rounds, review, publication, structure; never creating or deleting a plan), "
                "`editor` or `viewer` of one department (or, bound to none, of every "
                "department of the plan), or `reader` (what the public reads)."
            ),
        }
