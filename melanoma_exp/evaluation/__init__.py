"""Held-out evaluation: scikit-learn metrics, the dummy baseline, plots, report.json, predictions CSV."""
