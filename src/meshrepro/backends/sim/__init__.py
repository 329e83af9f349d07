"""The embedded backend: the user's terminal (host programs: kind, kubectl, sleep ...) over simulated clusters."""

from meshrepro.backends.sim.machine import Machine

__all__ = ["Machine"]
