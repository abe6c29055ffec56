"""Evaluation metrics for story models."""
