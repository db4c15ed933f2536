"""Shared foundations: user-facing errors, environment-backed settings, cache paths."""
