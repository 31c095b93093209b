"""The core: what every layer shares and nothing TensorFlow-bound at import: the record's
contract (`schema`), profiles, statistics of intervals, the machine and its devices, errors, units
and atomic files. Imports nothing from another layer."""
