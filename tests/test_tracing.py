import keras
import tensorflow as tf

from tfreuse.engine.layers import call_layer, prebuild
from tfreuse.probes.tracing import CountedFunction, TraceWindow


def test_one_input_shape_traces_once():
    double = CountedFunction(lambda x: x * 2)
    with TraceWindow([double]) as window:
        for _ in range(5):
            double(tf.ones((2, 3)))
    assert (window.trace_events, window.cache_delta) == (1, 1)


def test_each_new_shape_is_a_new_trace():
    double = CountedFunction(lambda x: x * 2)
    with TraceWindow([double]) as window:
        for n in (1, 2, 3):
            double(tf.ones((n,)))
    assert (window.trace_events, window.cache_delta) == (3, 3)


def test_each_new_layer_object_is_a_new_trace():
    forward = CountedFunction(call_layer)
    x = tf.ones((2, 3))
    with TraceWindow([forward]) as window:
        for _ in range(3):
            layer = keras.layers.Dense(4)
            prebuild(layer, (x,))
            forward(layer, x)
    assert (window.trace_events, window.cache_delta) == (3, 3)


def test_same_layer_object_traces_once():
    forward = CountedFunction(call_layer)
    x = tf.ones((2, 3))
    layer = keras.layers.Dense(4)
    prebuild(layer, (x,))
    with TraceWindow([forward]) as window:
        for _ in range(4):
            forward(layer, x)
    assert window.trace_events == 1


def test_variable_creating_first_call_traces_twice_and_leaves_two_entries():
    holder = {}

    def scale(x):
        if "v" not in holder:
            holder["v"] = tf.Variable(2.0)
        return x * holder["v"]

    function = CountedFunction(scale)
    function(tf.ones(2))
    function(tf.ones(2))
    assert (function.trace_events, function.cache_size) == (2, 2)


def test_window_sums_several_functions_and_ignores_earlier_traces():
    first, second = CountedFunction(lambda x: x + 1), CountedFunction(lambda x: x - 1)
    first(tf.ones(1))
    with TraceWindow([first, second]) as window:
        first(tf.ones(1))
        second(tf.ones(1))
        second(tf.ones(2))
    assert (window.trace_events, window.cache_delta) == (2, 2)


def test_trace_counter_counts_traces_of_functions_it_does_not_hold_and_not_eager_calls():
    from tfreuse.probes.tracing import TraceCounter

    counter = TraceCounter()

    def body(x):
        counter.count()
        return x * 2

    with TraceWindow([counter]) as window:
        for _ in range(3):
            tf.function(body)(tf.ones(1))  # a new function each time: a trace each time
        body(tf.ones(1))  # eager: not a trace
    assert (window.trace_events, window.cache_delta) == (3, 0)
