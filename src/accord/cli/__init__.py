"""The `accord` command line: thin Typer commands over the domain."""
