"""Rules to backend expressions, decay, caps, grades, accounts; the batch and online scorers."""

from accord.scoring.batch import Inputs, score_all, score_leads
from accord.scoring.online import Feedback, LeadScore, LeadState, OnlineScorer, Touch
from accord.scoring.run import RunResult, run_scoring

__all__ = [
    "Feedback",
    "Inputs",
    "LeadScore",
    "LeadState",
    "OnlineScorer",
    "RunResult",
    "Touch",
    "run_scoring",
    "score_all",
    "score_leads",
]
