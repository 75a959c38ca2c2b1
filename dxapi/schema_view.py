"""The OpenAPI schema and its two viewers (Swagger UI, ReDoc), fit for closed networks and the
Content-Security-Policy.

- ``CachedSchemaView``: the schema takes seconds to generate and depends only on the code, so
  each process renders it once per (format, language) and then answers from memory.
- ``SwaggerView``: Swagger UI with its init script loaded from a URL, not inline
  (drf-spectacular's split view), so that ``script-src 'self'`` holds.
- ``RedocView``: ReDoc without drf-spectacular's Google Fonts links (a CDN the policy refuses
  and closed networks cannot reach) nor Redocly's logo from its CDN; ReDoc's search runs in a
  worker made from a ``blob:``.

The scripts and styles are drf-spectacular-sidecar's static files (``SIDECAR`` settings).
"""

import threading
from functools import cache

from csp.decorators import csp_update
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponse
from django.template import engines
from django.utils import translation
from django.utils.decorators import method_decorator
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

# (renderer, language) -> (content type, body, Content-Disposition)
_schemas: dict[tuple, tuple[str, bytes, str]] = {}
_lock = threading.Lock()


def clear_schema_cache() -> None:
    with _lock:
        _schemas.clear()


@receiver(setting_changed)
def _settings_changed(**kwargs) -> None:
    # Tests that override settings may change the schema (SPECTACULAR_SETTINGS, LANGUAGES, …).
    clear_schema_cache()


class CachedSchemaView(SpectacularAPIView):
    """``SpectacularAPIView`` that renders the schema once per process, format and language.

    Only the plain forms are kept, a bounded set: a configured language, no ``version``, the
    renderer's own media type (no parameters such as ``indent``). Other requests are answered
    as drf-spectacular answers them, generated anew."""

    def _get_schema_response(self, request):
        key = self._cache_key(request)
        if key is None:
            return super()._get_schema_response(request)
        cached = _schemas.get(key)
        if cached is None:
            with _lock:  # one generation at a time: it is slow and the result is shared
                cached = _schemas.get(key)
                if cached is None:
                    cached = _schemas[key] = self._render(request)
        content_type, body, disposition = cached
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = disposition
        return response

    def _cache_key(self, request) -> tuple | None:
        renderer = request.accepted_renderer
        language = translation.get_language()
        version = self.api_version or request.version or self._get_version_parameter(request)
        if (
            version is not None
            or request.accepted_media_type != renderer.media_type
            or language not in {code for code, _name in settings.LANGUAGES}
        ):
            return None
        return (type(renderer), renderer.media_type, language)

    def _render(self, request) -> tuple[str, bytes, str]:
        response = super()._get_schema_response(request)
        # What APIView.finalize_response does before Django renders a Response.
        response.accepted_renderer = request.accepted_renderer
        response.accepted_media_type = request.accepted_media_type
        response.renderer_context = self.get_renderer_context()
        response.render()
        return response["Content-Type"], response.content, response["Content-Disposition"]


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI whose init script is a same-origin URL (``?script``), not an inline one."""


_REDOC_PAGE = """<!DOCTYPE html>
<html>
  <head>
    <title>{{ title|default:"Redoc" }}</title>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <style>body { margin: 0; padding: 0; }</style>
  </head>
  <body>
    <redoc spec-url="{{ schema_url }}"></redoc>
    <script src="{{ script_url }}"></script>
    <script src="{{ redoc_standalone }}"></script>
  </body>
</html>
"""

# Loaded before ReDoc: an <img> from another origin gets a blank image instead. ReDoc's side
# menu shows Redocly's logo from cdn.redoc.ly, which closed networks cannot reach and the
# policy refuses (a CSP violation on every page view); nothing else of the page changes.
_REDOC_OFFLINE_JS = """"use strict";
(() => {
  const blank = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==";
  const elsewhere = (value) => {
    try {
      const url = new URL(String(value), document.baseURI);
      return url.origin !== window.location.origin && /^https?:$/.test(url.protocol);
    } catch {
      return false;
    }
  };
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && String(name).toLowerCase() === "src"
        && elsewhere(value)) {
      value = blank;
    }
    return setAttribute.call(this, name, value);
  };
  const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    ...src,
    set(value) {
      src.set.call(this, elsewhere(value) ? blank : value);
    },
  });
})();
"""


@cache
def _redoc_template():
    return engines["django"].from_string(_REDOC_PAGE)


class RedocView(SpectacularRedocView):
    """ReDoc from the sidecar, without external fonts, images or inline script. Its search
    index runs in a Web Worker that it builds from a ``blob:`` URL: this page's policy allows
    that. ``?script`` is the small script that keeps ReDoc's own logo from another host out."""

    @extend_schema(exclude=True)
    @method_decorator(csp_update({"worker-src": ["'self'", "blob:"]}))
    def get(self, request, *args, **kwargs):
        if request.GET.get("script") is not None:
            return HttpResponse(_REDOC_OFFLINE_JS, content_type="application/javascript")
        page = _redoc_template().render(
            {
                "title": self.title,
                "redoc_standalone": self._redoc_standalone(),
                "schema_url": self._get_schema_url(request),
                "script_url": f"{request.path}?script",
            },
            request,
        )
        return HttpResponse(page)
