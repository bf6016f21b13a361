"""turbosio.engineio."""
