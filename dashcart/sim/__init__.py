"""Simulated hardware that speaks the real protocols, with faults on demand."""
