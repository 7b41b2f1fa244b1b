"""Use cases with typed results: what the CLI, the service and the report call.

Each function opens nothing it does not close, takes plain options, and returns a
pydantic model or a domain result that a surface prints, serves or renders.
"""
