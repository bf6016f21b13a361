"""The seed's program on Flask-SocketIO 5 (benchmarks/.venv-peers), for the Flask rows of
``make bench``. Only what the benchmark needs differs from flask_seed.py: the import, and the
port (Flask-SocketIO's ``run`` has no environment variable for it), read from argv. Its async
mode is Flask-SocketIO's own pick among what is installed (eventlet, then gevent, then
threading), or ``FLASK_SIO_MODE`` if set.
"""

import os
import sys

from flask_socketio import SocketIO, emit

from flask import Flask

app = Flask(__name__)
socketio = SocketIO(app, async_mode=os.environ.get("FLASK_SIO_MODE") or None)


@socketio.on("message")
def handle_message(data):
    emit("response", {"msg": data}, broadcast=True)


if __name__ == "__main__":
    print("async_mode:", socketio.async_mode, flush=True)
    socketio.run(app, host="127.0.0.1", port=int(sys.argv[1]), allow_unsafe_werkzeug=True)
