"""Evaluation measures of the three papers."""
