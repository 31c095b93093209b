"""The user's tools: the reuse guard and `tfreuse watch`, which tell users where their own code
re-creates and why a function retraced. Import the probes and the core."""
