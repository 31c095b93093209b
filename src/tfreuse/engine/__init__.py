"""The engine: the harness that makes, times, probes and records a case, the conditions it runs
under, the `shared` reference beside each round, and the Keras helpers scenarios build with.
Imports the probes and the core."""
