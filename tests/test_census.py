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


def test_sources_name_each_variable_its_owner_and_the_line_that_made_it():
    with VariableWindow(sources=True) as window:
        keras.layers.Dense(3, name="probe")(tf.ones((2, 5)))  # the creating line
    line = next(number for number, text in enumerate(open(__file__).read().splitlines(), 1)
                if text.endswith("# the creating line"))
    assert [created.describe() for created in window.creations] == [
        "probe/kernel (5, 3) float32 of layer probe (Dense)", "probe/bias (3,) float32 of layer probe (Dense)"]
    assert {(created.where[0].file, created.where[0].line) for created in window.creations} == {(__file__, line)}


def test_without_sources_nothing_is_recorded_but_the_counts():
    with VariableWindow() as window:
        tf.Variable(1.0)
    assert (window.created, window.creations) == (1, [])
