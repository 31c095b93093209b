"""Probes: small measurements taken around a window of steps (tracing, memory, variables,
instructions). Import only the core."""
