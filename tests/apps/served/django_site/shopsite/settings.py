"""Minimal settings: no database, no sessions, just URL routing and views."""

import os
import signal
import sys
import threading
from pathlib import Path

# The project's own SIGTERM handler, when the stop tests ask for one.
if os.environ.get("SERVED_OWN_SIGTERM_HANDLER") == "1" and threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "served-test-project-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["shop"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "shopsite.urls"
WSGI_APPLICATION = "shopsite.wsgi.application"
ASGI_APPLICATION = "shopsite.asgi.application"
DATABASES = {}
USE_TZ = True
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "ERROR"}}
