"""The green-worker app, wired by hand, under eventlet's own WSGI server:
``python eventlet_server.py PORT``.

eventlet patches the standard library first, as its documentation asks, so
requestcov is imported into an already green ``threading``.
"""

import eventlet

eventlet.monkey_patch()

import sys  # noqa: E402

from eventlet import wsgi  # noqa: E402

from green_adapted import app  # noqa: E402

if __name__ == "__main__":
    wsgi.server(eventlet.listen(("127.0.0.1", int(sys.argv[1]))), app, log_output=False)
