"""Minimal settings: no database, no sessions, just URL routing and views."""

import sys
from pathlib import Path

# The project's own SIGTERM handler, when the stop tests ask for one (the
# module sits in the folder of the other served apps).
sys.path.append(str(Path(__file__).resolve().parents[2]))
import own_signals  # noqa: E402,F401

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
