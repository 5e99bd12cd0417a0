"""The green-worker app with the Flask adapter added by hand.

gunicorn's gevent and eventlet workers monkey-patch the standard library
before they import the app, so requestcov is first imported here, with
``threading`` already green.
"""

from requestcov.flask import RequestCov

from green_server import app

RequestCov(app)
