"""Settings for the test suite: the normal settings with a throw-away key and fast hashing."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-key-not-used-anywhere-else")

from dxapi.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
