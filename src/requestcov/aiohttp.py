"""Record an aiohttp app in one line::

    import requestcov.aiohttp

    requestcov.aiohttp.setup(app)

(The integration lives in :mod:`requestcov.integrations.aiohttp`.)
"""

from requestcov.integrations.aiohttp import is_recorded, setup

__all__ = ["setup", "is_recorded"]
