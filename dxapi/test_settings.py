"""Settings for the test suite: the normal settings with a throw-away key and fast hashing."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-key-not-used-anywhere-else")
# The tests use their own memory cache (below), not the production settings' Redis.
os.environ.setdefault("ALLOW_LOCAL_CACHE", "1")

from dxapi.settings import *  # noqa: F403
from dxapi.settings import DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SECURE_SSL_REDIRECT = False
# The tests run without the connection pool: the test runner manages its connections.
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
# Files that jobs write go to a throw-away folder, not the checkout's media/ (a test that
# starts other processes gives them its own folder through MEDIA_ROOT).
MEDIA_ROOT = os.environ.get("MEDIA_ROOT") or tempfile.mkdtemp(prefix="dxapi-test-media-")
