"""Subcommands of `shippers`; each module defines `register(subparsers)`."""
