"""One module a ``facelm`` subcommand; each exposes ``register(subparsers)``."""
