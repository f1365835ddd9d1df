"""Slack listeners, one package per kind, each exposing ``register(app)``."""
