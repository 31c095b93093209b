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


def _built_model():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


def test_variables_made_after_clear_session_are_counted():
    # clear_session() resets TensorFlow's default graph, where creator scopes live.
    with VariableWindow() as window:
        for _ in range(3):
            keras.backend.clear_session()
            _built_model()  # kernel and bias
    assert window.created == 6


def test_after_the_window_a_new_default_graph_has_no_census_scope_left():
    from tensorflow.python.framework import ops

    with VariableWindow() as outer:
        with VariableWindow() as inner:
            keras.backend.clear_session()
            _built_model()
        tf.Variable(1.0)
    keras.backend.clear_session()
    after = tf.Variable(1.0)
    assert (inner.created, outer.created) == (2, 3)
    assert "reset" not in vars(ops._default_graph_stack)
    assert ops.get_default_graph()._variable_creator_stack == []
    assert after.numpy() == 1.0


def test_sources_name_variables_made_after_clear_session():
    with VariableWindow(sources=True) as window:
        keras.backend.clear_session()
        keras.layers.Dense(3, name="after_reset")(tf.ones((2, 5)))
    assert [created.name for created in window.creations] == ["after_reset/kernel", "after_reset/bias"]
