"""The sub-commands of the ``streamml`` CLI, one module each."""
