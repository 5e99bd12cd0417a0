"""Record a Flask app in one line::

    from requestcov.flask import RequestCov

    RequestCov(app)            # or RequestCov().init_app(app)

(The integration lives in :mod:`requestcov.integrations.flask`.)
"""

from requestcov.integrations.flask import RequestCov, is_recorded

__all__ = ["RequestCov", "is_recorded"]
