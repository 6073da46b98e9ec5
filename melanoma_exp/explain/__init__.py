"""Explanations: Grad-CAM heatmaps and the marker-attention shortcut check."""
