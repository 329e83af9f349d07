"""Scenarios: the user's terminal session as a file, how it runs, and what came of it."""
