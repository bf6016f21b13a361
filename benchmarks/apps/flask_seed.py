from flask import Flask
from turbosio.flask import SocketIO, emit

app = Flask(__name__)
socketio = SocketIO(app)


@socketio.on("message")
def handle_message(data):
    emit("response", {"msg": data}, broadcast=True)


if __name__ == "__main__":
    socketio.run(app)
