"""turbosio.protocol."""
