import keras
import pytest
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


@pytest.mark.slow
def test_variables_made_after_clear_session_are_counted():
    # clear_session() resets TensorFlow's default graph, where creator scopes live.
    with VariableWindow() as window:
        for _ in range(3):
            keras.backend.clear_session()
            _built_model()  # kernel and bias
    assert window.created == 6


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_replaced_default_graph_is_not_kept_alive_by_the_window():
    import gc
    import weakref

    from tensorflow.python.framework import ops

    with VariableWindow():
        replaced = []
        for _ in range(3):
            replaced.append(weakref.ref(ops.get_default_graph()))
            keras.backend.clear_session()
        gc.collect()
        assert [graph() is None for graph in replaced] == [True, True, True]


def test_sources_name_variables_made_after_clear_session():
    with VariableWindow(sources=True) as window:
        keras.backend.clear_session()
        keras.layers.Dense(3, name="after_reset")(tf.ones((2, 5)))
    assert [created.name for created in window.creations] == ["after_reset/kernel", "after_reset/bias"]


# --- where the owner of a variable was constructed ----------------------------------------------

def _line(marker: str) -> int:
    """The line of this file ending with the comment `# marker`."""
    return next(number for number, text in enumerate(open(__file__).read().splitlines(), 1)
                if text.endswith(f"# {marker}"))


def test_sources_name_the_owners_construction_line_and_the_line_that_built_it():
    with VariableWindow(sources=True) as window:
        head = keras.layers.Dense(3, name="split")  # constructed here
        head(tf.ones((2, 5)))  # built here
    kernel = window.creations[0]
    assert (kernel.owner_class, kernel.site.line, kernel.where[0].line) == (
        "Dense", _line("constructed here"), _line("built here"))
    assert kernel.built_elsewhere
    assert kernel.source_lines()[0].startswith(f"made at {__file__}:{_line('constructed here')} in "
                                               "test_sources_name_the_owners_construction_line_and_the_line_"
                                               "that_built_it (Dense constructed here): head = keras.layers.Dense(")
    assert kernel.source_lines()[-1].startswith(f"built at {__file__}:{_line('built here')} in ")


def test_a_variable_built_where_its_owner_was_constructed_has_no_built_line():
    with VariableWindow(sources=True) as window:
        keras.metrics.Mean(name="mean_here")  # metric with its variables
    assert {created.site.line for created in window.creations} == {_line("metric with its variables")}
    assert not any(created.built_elsewhere for created in window.creations)
    assert all("built at" not in line for created in window.creations for line in created.source_lines())


def test_an_owner_constructed_before_the_window_is_placed_at_the_building_line():
    head = keras.layers.Dense(3)
    with VariableWindow(sources=True) as window:
        head(tf.ones((2, 5)))  # built in the window
    assert [created.constructed_at for created in window.creations] == [(), ()]
    assert {created.site.line for created in window.creations} == {_line("built in the window")}


class _OwnInit(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units))

    def call(self, x):
        return x @ self.kernel


class _NoInit(keras.layers.Layer):
    def call(self, x):
        return x


def _configs():
    """Configs of objects whose classes override `__init__` or only inherit it (named: Keras
    numbers each new object's default name)."""
    made = [_OwnInit(3, name="own"), _NoInit(name="no"), keras.layers.Dense(2, name="d"),
            keras.optimizers.Adam(0.01, name="adam"), keras.metrics.Mean(name="mean"),
            keras.Sequential([keras.layers.Dense(2, name="inner")], name="seq")]
    return [obj.get_config() for obj in made]


def test_keras_constructors_still_pass_through_the_wrapped_base_init():
    """Fails if Keras stops constructing layers, models, optimizers and metrics through the base
    classes' `__init__` that `census._wrap_keras_constructors` wraps, or if the wrapper changes
    what Keras reads from the signature (configs), or is not undone."""
    from tfreuse.probes.census import construction_site

    originals = {cls: vars(cls).get("__init__") for cls in
                 (keras.layers.Layer, keras.optimizers.Optimizer, keras.metrics.Metric)}
    before = _configs()
    x = tf.ones((2, 4))
    with VariableWindow(sources=True):
        during = _configs()
        inputs = keras.Input((4,))
        made = {  # every kind of owner, each constructed on its own line
            "layer": keras.layers.Dense(2),
            "own_init": _OwnInit(2),
            "no_init": _NoInit(),
            "sequential": keras.Sequential([keras.layers.Dense(2)]),
            "functional": keras.Model(inputs, keras.layers.Dense(2)(inputs)),
            "optimizer": keras.optimizers.SGD(0.1),
            "metric": keras.metrics.Mean(),
        }
        made["own_init"](x)
    assert during == before
    for label, obj in made.items():
        site = construction_site(obj)
        assert site and site[0].file == __file__ and site[0].text.startswith(f'"{label}": '), (label, site)
    assert {cls: vars(cls).get("__init__") for cls in originals} == originals
    assert construction_site(keras.layers.Dense(2)) == ()  # nothing recorded after the window
