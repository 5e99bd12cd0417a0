"""Record a Django project by putting one line first in ``MIDDLEWARE``::

    MIDDLEWARE = ["requestcov.django.RequestCovMiddleware", ...]

(The integration lives in :mod:`requestcov.integrations.django`.)
"""

from requestcov.integrations.django import MIDDLEWARE_PATH, RequestCovMiddleware

__all__ = ["RequestCovMiddleware", "MIDDLEWARE_PATH"]
