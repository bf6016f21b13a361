"""turbosio.client."""
