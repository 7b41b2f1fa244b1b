"""The agreement: pydantic schema, YAML with line numbers, operators, validation."""

from accord.pact.diff import PactDiff, diff_pacts
from accord.pact.io import load_pact, max_score, parse_pact
from accord.pact.operators import OPERATORS
from accord.pact.schema import Pact, ScoreModel

__all__ = [
    "OPERATORS",
    "Pact",
    "PactDiff",
    "ScoreModel",
    "diff_pacts",
    "load_pact",
    "max_score",
    "parse_pact",
]
