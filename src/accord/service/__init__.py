"""The service: one HTTP API for both teams and their tools (`accord serve`).

Routes are thin: they check the caller's role and call :mod:`accord.workflows`.
"""
