"""Record a Tornado app in one line::

    import requestcov.tornado

    requestcov.tornado.record(app)

(The integration lives in :mod:`requestcov.integrations.tornado`.)
"""

from requestcov.integrations.tornado import is_recorded, record, route_template

__all__ = ["record", "is_recorded", "route_template"]
