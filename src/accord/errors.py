"""Accord's exceptions, rooted at :class:`AccordError`, and what each means to a surface.

Each also inherits the builtin it refines, so callers may catch either::

    AccordError
    ├── ConfigError (ValueError)              a setting, URL or option Accord cannot use
    │   └── UnknownTableError (KeyError)      a table name that is not canonical
    ├── MissingExtraError (ImportError)       an optional dependency is not installed
    ├── EngineError (RuntimeError)            an engine is unreachable or refused a statement
    ├── PactError (ValueError)                a pact that is refused: file, line, rule, problem, choices
    │   ├── UnknownModelError (KeyError)      a score model the pact does not have
    │   ├── PactRefError (KeyError)           no submitted pact version of that name
    │   ├── NoActivePactError                 the store has no active pact and no file was given
    │   └── ActivationRefused                 a version both teams have not approved
    ├── LoadError (ValueError)                a file that cannot be loaded at all
    │   ├── BadFileError                      not what it claims: empty, binary, wrong delimiter
    │   └── MappingError                      a column mapping that does not fit the file or table
    ├── AttributionError (ValueError)         attribution cannot run as asked
    ├── EvaluationError (ValueError)          a back-test cannot run as asked
    ├── UnknownLeadError (KeyError)           no lead with that id
    ├── UnknownRunError (KeyError)            no scoring run with that id (or one already reverted)
    ├── UnknownAccountError (KeyError)        no account with that id
    ├── UnknownJobError (KeyError)            no background job with that id
    ├── UnknownKeyError (KeyError)            no API key of that name
    ├── UnknownWebhookError (KeyError)        no webhook endpoint or event with that id
    └── ConflictError (RuntimeError)          clashes with the store's state (a key name taken)

Messages say what is wrong, where, and how to fix it. :data:`OUTCOMES` is the one table
that maps each to an exit code (the CLI) and an HTTP status (the service).
"""

from __future__ import annotations

from dataclasses import dataclass


class AccordError(Exception):
    """Root of every error Accord raises on purpose."""


class _Plain:
    """KeyError quotes its message; Accord's key errors print as plain sentences."""

    args: tuple[object, ...]

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(AccordError, ValueError):
    """A setting, URL or option Accord cannot use."""


class UnknownTableError(_Plain, ConfigError, KeyError):
    """A table name that is not one of the canonical tables."""


class MissingExtraError(AccordError, ImportError):
    """An optional dependency is missing; the message has the install command."""


class EngineError(AccordError, RuntimeError):
    """An engine could not be reached or refused what Accord asked of it."""


class PactError(AccordError, ValueError):
    """A pact that cannot be used; the message names file, line, rule and the valid choices."""


class UnknownModelError(_Plain, PactError, KeyError):
    """A score model name the pact does not have."""


class PactRefError(_Plain, PactError, KeyError):
    """No submitted pact version matches what the user named."""


class NoActivePactError(PactError):
    """The store has no active pact and no pact file was given."""


class ActivationRefused(PactError):
    """A version both teams have not approved cannot be activated."""


class LoadError(AccordError, ValueError):
    """A file could not be loaded at all (row-level problems go to rejects instead)."""


class BadFileError(LoadError):
    """The file is not what it claims to be: empty, binary, or with the wrong delimiter."""


class MappingError(LoadError):
    """A column mapping names a column or option that does not exist."""


class AttributionError(AccordError, ValueError):
    """Attribution cannot run as asked (bad option, unusable input, a model that does not apply)."""


class EvaluationError(AccordError, ValueError):
    """A back-test cannot run as asked (no history in the window, bad dates)."""


class UnknownLeadError(_Plain, AccordError, KeyError):
    """No lead with that id in the store."""


class UnknownRunError(_Plain, AccordError, KeyError):
    """No scoring run with that id, or one already reverted."""


class UnknownAccountError(_Plain, AccordError, KeyError):
    """No account with that id in the store."""


class UnknownJobError(_Plain, AccordError, KeyError):
    """No background job with that id."""


class UnknownKeyError(_Plain, AccordError, KeyError):
    """No API key of that name."""


class UnknownWebhookError(_Plain, AccordError, KeyError):
    """No webhook endpoint or event with that id."""


class ConflictError(AccordError, RuntimeError):
    """The request clashes with the store's state: a key name taken, a request still running."""


@dataclass(frozen=True)
class Outcome:
    """What an error means to a surface."""

    exit_code: int
    """1 a bug, 2 input Accord cannot use (a bad option, file or pact), 3 a record named by id not
    found (lead, run, pact version), 4 refused (activation, no active pact), 5 the environment."""
    http_status: int
    title: str
    """The problem's title in an `application/problem+json` answer."""


OUTCOMES: dict[type[AccordError], Outcome] = {
    AccordError: Outcome(2, 400, "Bad request"),
    ConfigError: Outcome(2, 422, "Invalid option"),
    UnknownTableError: Outcome(2, 404, "Unknown table"),
    MissingExtraError: Outcome(5, 501, "Not installed"),
    EngineError: Outcome(5, 503, "Store unavailable"),
    PactError: Outcome(2, 422, "Invalid pact"),
    UnknownModelError: Outcome(2, 404, "Unknown score model"),
    PactRefError: Outcome(3, 404, "Unknown pact version"),
    NoActivePactError: Outcome(4, 409, "No active pact"),
    ActivationRefused: Outcome(4, 409, "Activation refused"),
    LoadError: Outcome(2, 422, "File cannot be loaded"),
    BadFileError: Outcome(2, 422, "Bad file"),
    MappingError: Outcome(2, 422, "Bad mapping"),
    AttributionError: Outcome(2, 422, "Attribution cannot run"),
    EvaluationError: Outcome(2, 422, "Evaluation cannot run"),
    UnknownLeadError: Outcome(3, 404, "Unknown lead"),
    UnknownRunError: Outcome(3, 404, "Unknown scoring run"),
    UnknownAccountError: Outcome(3, 404, "Unknown account"),
    UnknownJobError: Outcome(3, 404, "Unknown job"),
    UnknownKeyError: Outcome(3, 404, "Unknown key"),
    UnknownWebhookError: Outcome(3, 404, "Unknown webhook"),
    ConflictError: Outcome(4, 409, "Conflict"),
}
"""Every error class to its exit code and HTTP status; a subclass not listed takes its parent's."""

UNEXPECTED = Outcome(1, 500, "Internal error")
"""Anything that is not an AccordError: a bug, reported as one sentence."""


def outcome(exc: BaseException) -> Outcome:
    """The outcome of an exception: its class's entry, or its nearest listed ancestor's."""
    for cls in type(exc).__mro__:
        if cls in OUTCOMES:
            return OUTCOMES[cls]
    return UNEXPECTED
