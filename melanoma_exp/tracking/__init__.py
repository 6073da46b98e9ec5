"""Experiment tracking: one MLflow run per training run, or nothing (`tracking=none`)."""

from melanoma_exp.tracking.tracker import MlflowTracker, NullTracker, make_tracker, resolve_tracking_uri

__all__ = ["MlflowTracker", "NullTracker", "make_tracker", "resolve_tracking_uri"]
