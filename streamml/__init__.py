"""streamml."""
