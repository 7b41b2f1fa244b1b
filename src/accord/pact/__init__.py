"""The agreement: pydantic schema, YAML with line numbers, operators, validation."""

from accord.pact.io import load_pact, max_score, parse_pact
from accord.pact.operators import OPERATORS
from accord.pact.schema import Pact, ScoreModel

__all__ = ["OPERATORS", "Pact", "ScoreModel", "load_pact", "max_score", "parse_pact"]
