"""HTTP caching: a strong ETag on every successful read, conditional GET, Cache-Control.

- ETag: the one a view set (a record's version, ``dxapi.etags``; a data version and the
  bytes, ``evaluations.api.cached_responses``), else a hash of the body. Streamed responses
  (exports) get none: their body is not known before it is sent.
- ``If-None-Match`` naming the response's ETag: ``304 Not Modified`` without a body.
- Cache-Control: anonymous reads (no ``Authorization``, no logged-in session) are
  ``public, max-age=…, stale-while-revalidate=…`` (``PUBLIC_CACHE_MAX_AGE``,
  ``PUBLIC_CACHE_STALE_WHILE_REVALIDATE``): the public sees published data only, the same
  for every anonymous caller. Reads by a user or an API key are ``private, no-cache``
  (revalidated with the ETag each time). ``no-store`` for what must never be stored: the
  admin, the health endpoints, change histories (who changed what), errors, responses that
  set a cookie, writes, and responses a view marked ``no-store``.
- ``Vary: Authorization, Cookie, Accept, Accept-Language`` on reads, merged with what the
  response varies on already (``Origin`` from CORS …).
"""

import hashlib
import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags

READ_METHODS = frozenset({"GET", "HEAD"})
VARY = ("Authorization", "Cookie", "Accept", "Accept-Language")
# Never stored: the admin, health probes, and the change history of records.
NO_STORE_PATHS = re.compile(r"^/(admin|health)(/|$)|/history/?$")
NO_STORE = "no-store"
PRIVATE = "private, no-cache"
# Headers a 304 repeats (RFC 9110 15.4.5), and those that say how to cache it.
NOT_MODIFIED_HEADERS = ("ETag", "Cache-Control", "Vary", "Content-Location", "Date", "Expires")


def public_cache_control() -> str:
    max_age = getattr(settings, "PUBLIC_CACHE_MAX_AGE", 10)
    stale = getattr(settings, "PUBLIC_CACHE_STALE_WHILE_REVALIDATE", 30)
    return f"public, max-age={max_age}, stale-while-revalidate={stale}"


def body_etag(content: bytes) -> str:
    """A strong ETag of the bytes themselves."""
    return '"' + hashlib.blake2b(content, digest_size=16).hexdigest() + '"'


def is_anonymous(request: HttpRequest) -> bool:
    """No ``Authorization`` header and no logged-in user (a session, or a user a view
    authenticated otherwise)."""
    if "HTTP_AUTHORIZATION" in request.META:
        return False
    user = getattr(request, "user", None)
    return user is None or not user.is_authenticated


def _etag_matches(header: str, etag: str) -> bool:
    """``If-None-Match`` uses the weak comparison: ``W/"x"`` matches ``"x"``."""
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.removeprefix("W/") == opaque for tag in parse_etags(header))


def _cache_control(request: HttpRequest, response: HttpResponseBase) -> str:
    if request.method not in READ_METHODS or not 200 <= response.status_code < 300:
        return NO_STORE
    if response.cookies or NO_STORE_PATHS.search(request.path_info):
        return NO_STORE
    if NO_STORE in response.get("Cache-Control", ""):
        return NO_STORE
    return public_cache_control() if is_anonymous(request) else PRIVATE


def not_modified(response: HttpResponseBase) -> HttpResponse:
    result = HttpResponseNotModified()
    for header in NOT_MODIFIED_HEADERS:
        if header in response:
            result[header] = response[header]
    return result


class HttpCacheMiddleware:
    """ETag, conditional GET, Cache-Control and Vary (see the module's docstring). Placed
    outside the middleware that set cookies and Vary, so that it sees them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response["Cache-Control"] = _cache_control(request, response)
        if request.method not in READ_METHODS:
            return response
        patch_vary_headers(response, VARY)
        if not 200 <= response.status_code < 300 or response.status_code == 204:
            return response
        if response.streaming:
            return response
        etag = response.get("ETag")
        if etag is None:
            etag = response["ETag"] = body_etag(response.content)
        header = request.META.get("HTTP_IF_NONE_MATCH")
        if header and response.status_code == 200 and _etag_matches(header, etag):
            return not_modified(response)
        return response
