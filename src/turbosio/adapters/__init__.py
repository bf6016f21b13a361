"""turbosio.adapters."""
