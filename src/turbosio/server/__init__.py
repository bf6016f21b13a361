"""turbosio.server."""
