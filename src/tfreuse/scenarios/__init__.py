"""Scenario families shared by the built-in benchmarks and by users measuring their own layers.
Built on the engine."""
