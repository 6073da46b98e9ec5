"""Backbone registry (`registry`), classification head (`head`) and model assembly (`build`)."""
