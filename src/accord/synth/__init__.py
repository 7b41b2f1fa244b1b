"""The seeded generator of a B2B funnel and the ground truth behind it."""

from accord.synth.generator import Generated, generate
from accord.synth.output import store_generated, write_generated

__all__ = ["Generated", "generate", "store_generated", "write_generated"]
