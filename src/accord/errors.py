"""Accord's exceptions, rooted at :class:`AccordError`.

Each also inherits the builtin it refines, so callers may catch either::

    AccordError
    ├── ConfigError (ValueError)          a setting or URL Accord cannot use
    │   └── UnknownTableError (KeyError)  a table name that is not canonical
    ├── MissingExtraError (ImportError)   an optional dependency is not installed
    ├── EngineError (RuntimeError)        an engine is unreachable or refused a statement
    ├── PactError (ValueError)            a pact that is refused: file, line, rule, problem, choices
    └── LoadError (ValueError)            a file that cannot be loaded at all
        ├── BadFileError                  not what it claims: empty, binary, wrong delimiter
        └── MappingError                  a column mapping that does not fit the file or table

Messages say what is wrong, where, and how to fix it.
"""

from __future__ import annotations


class AccordError(Exception):
    """Root of every error Accord raises on purpose."""


class ConfigError(AccordError, ValueError):
    """A setting, URL or option Accord cannot use."""


class UnknownTableError(ConfigError, KeyError):
    """A table name that is not one of the canonical tables."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text.
        return str(self.args[0]) if self.args else ""


class MissingExtraError(AccordError, ImportError):
    """An optional dependency is missing; the message has the install command."""


class EngineError(AccordError, RuntimeError):
    """An engine could not be reached or refused what Accord asked of it."""


class PactError(AccordError, ValueError):
    """A pact that cannot be used; the message names file, line, rule and the valid choices."""


class UnknownModelError(PactError, KeyError):
    """A score model name the pact does not have."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class LoadError(AccordError, ValueError):
    """A file could not be loaded at all (row-level problems go to rejects instead)."""


class BadFileError(LoadError):
    """The file is not what it claims to be: empty, binary, or with the wrong delimiter."""


class MappingError(LoadError):
    """A column mapping names a column or option that does not exist."""
