"""Reports: pytest-benchmark JSON -> tidy DataFrame -> ratios and intervals -> plots, HTML, CSV.
Read the records through the core's contract; import nothing of the engine or the probes."""
