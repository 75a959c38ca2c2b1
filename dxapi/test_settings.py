"""Settings for the test suite: the normal settings with a throw-away key and fast hashing."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-key-not-used-anywhere-else")

from dxapi.settings import *  # noqa: F403
from dxapi.settings import DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SECURE_SSL_REDIRECT = False
# The tests run without the connection pool: the test runner manages its connections.
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
