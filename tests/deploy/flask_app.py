"""The Flask-Login pattern of docs/deployment.md, run as a process of its own: a login view sets
the Flask session cookie, and the Socket.IO handlers see ``current_user`` from it."""

from __future__ import annotations

import logging
import sys
from typing import Any

from flask_login import LoginManager, UserMixin, current_user, login_user

from flask import Flask, request
from turbosio.flask import SocketIO, emit

app = Flask(__name__)
app.config["SECRET_KEY"] = "for the tests only"
login = LoginManager(app)
socketio = SocketIO(app)


class User(UserMixin):
    """A user known by name alone (the pattern, not a user store)."""

    def __init__(self, user_id: str) -> None:
        self.id = user_id


@login.user_loader
def load_user(user_id: str) -> User:
    return User(user_id)


@app.route("/login")
def log_in() -> str:
    login_user(User(request.args["user"]))
    return "logged in"


@socketio.on("connect")
def connect(auth: Any) -> bool | None:
    if not current_user.is_authenticated:
        return False  # refused: the client gets a connect_error
    emit("welcome", current_user.id)
    return None


@socketio.on("whoami")
def whoami() -> dict[str, Any]:
    return {"user": current_user.id, "address": request.remote_addr}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    socketio.run(app, host="127.0.0.1", port=0)
