"""Evidence for the review meeting: back-tests, pact comparison, thresholds, feedback analysis."""

from accord.errors import EvaluationError
from accord.evaluation.backtest import Backtest, BacktestSpec, History, backtest
from accord.scoring.run import inputs_as_of

__all__ = ["Backtest", "BacktestSpec", "EvaluationError", "History", "backtest", "inputs_as_of"]
