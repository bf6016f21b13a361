"""turbosio.socketio."""
