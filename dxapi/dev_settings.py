"""Settings for local development, the default of ``manage.py``: DEBUG on unless the
environment says otherwise (then a SECRET_KEY is required as in production). The WSGI entry
point (gunicorn) uses ``dxapi.settings``, where DEBUG is off by default."""

import os

os.environ.setdefault("DEBUG", "1")

from dxapi.settings import *  # noqa: F403
