"""Subcommands of the ``fleetsim`` CLI beyond run/validate/hardware, one module each."""
