"""Accord: lead scoring and multi-touch attribution that sales and marketing agree on."""
__version__ = "0.1.0"
