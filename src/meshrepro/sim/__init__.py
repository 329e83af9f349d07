"""Simulated time and the decision trace. Lowest layer: imports nothing else of meshrepro."""
