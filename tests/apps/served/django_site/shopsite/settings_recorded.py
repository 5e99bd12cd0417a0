"""The project's settings with requestcov's middleware first, as a user would add it."""

from shopsite.settings import *  # noqa: F401,F403

MIDDLEWARE = ["requestcov.django.RequestCovMiddleware", *MIDDLEWARE]  # noqa: F405
