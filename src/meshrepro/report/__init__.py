"""Renderers of a run: the terminal transcript (text) and the machine contract (json)."""
