"""Rules to backend expressions, decay, caps, grades, accounts; the batch and online scorers."""

from accord.scoring.batch import Inputs, score_leads
from accord.scoring.online import Feedback, LeadScore, LeadState, OnlineScorer, Touch

__all__ = ["Feedback", "Inputs", "LeadScore", "LeadState", "OnlineScorer", "Touch", "score_leads"]
