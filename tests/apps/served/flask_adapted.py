"""The Flask app with the one-line adapter, as a user would add it."""

from requestcov.flask import RequestCov

from flask_server import app

RequestCov(app)
