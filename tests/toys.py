"""A two-variant toy benchmark module, written into temporary suites by the plugin and selfcheck tests."""

TOY_BENCHMARK = '''
import tensorflow as tf
from tfreuse.harness import Scenario, benchmark_test

class Tiny(Scenario):
    name = "tiny"
    variants = ("shared", "reinstantiated")
    sizes = {"one": {"n": 2}}
    skips = {("reinstantiated", "eager"): "not interesting here"}

    def shared(self, ctx):
        x = tf.ones((ctx.params["n"],))
        f = ctx.compile(lambda t: t + 1)
        return lambda: f(x)

    def reinstantiated(self, ctx):
        f = ctx.compile(lambda v: v + 1)
        return lambda: f(tf.Variable(1.0))

test_tiny = benchmark_test(Tiny())
'''
