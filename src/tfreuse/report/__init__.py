"""Reports: pytest-benchmark JSON -> tidy DataFrame -> ratios and intervals -> plots, HTML, CSV."""
