"""Record a Sanic app in one line::

    from requestcov.sanic import RequestCov

    RequestCov(app)

(The integration lives in :mod:`requestcov.integrations.sanic`.)
"""

from requestcov.integrations.sanic import RequestCov

__all__ = ["RequestCov"]
