import keras
import tensorflow as tf

from tfreuse.probes.census import VariableWindow


def test_counts_variables_created_and_those_kept_alive():
    kept = []
    with VariableWindow() as window:
        kept.append(tf.Variable(1.0))
        tf.Variable(2.0)  # dropped at once
        layer = keras.layers.Dense(3)
        layer.build((None, 2))
        kept.append(layer)
    assert window.created == 4
    assert window.alive_after == 3


def test_variables_made_before_the_window_are_not_counted():
    before = tf.Variable(1.0)
    with VariableWindow() as window:
        before.assign(2.0)
    assert (window.created, window.alive_after) == (0, 0)


def test_creations_inside_a_tf_function_are_seen():
    holder = {}

    @tf.function
    def make_once(x):
        if "v" not in holder:
            holder["v"] = tf.Variable(1.0)
        return x + holder["v"]

    with VariableWindow() as window:
        make_once(tf.ones(1))
    assert window.created >= 1
    assert window.alive_after == 1
