"""tfreuse: measure what it costs to re-create TensorFlow variables instead of reusing them."""

__version__ = "0.1.0"
