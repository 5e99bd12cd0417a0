"""The Tornado app with the one-line adapter, as a user would add it:
``python tornado_adapted.py PORT``."""

import sys

import requestcov.tornado

import tornado_server

app = tornado_server.make_app()
requestcov.tornado.record(app)

if __name__ == "__main__":
    tornado_server.main(app, sys.argv)
