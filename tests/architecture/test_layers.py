"""The package's layers point down, nothing imports in a circle, and a function-local import is there
only to keep a heavy library (TensorFlow, MLflow, ...) out of start-up."""

import subprocess
import sys

from . import import_graph as graph

EVERYTHING = graph.graph()


def test_the_graph_is_read_from_the_whole_package():
    modules = graph.modules()
    assert "melanoma_exp.commands.main" in modules and "melanoma_exp.evaluation.ood" in modules
    assert len(graph.internal(EVERYTHING)) > 100  # the reader sees the project's own imports


def test_imports_point_down_the_layers():
    assert graph.layer_violations(EVERYTHING) == []


def test_no_import_cycles():
    assert graph.cycles(EVERYTHING) == []


def test_function_local_imports_only_defer_heavy_modules():
    assert graph.needless_local_imports(EVERYTHING) == []


def test_every_module_sits_in_a_layer():
    for name in graph.modules():
        graph.layer_of(name)  # raises KeyError naming the module


def test_the_checks_catch_what_they_are_for():
    up = graph.Import("melanoma_exp.data.split", "melanoma_exp.export.bundle", local=True, line=1)
    side = graph.Import("melanoma_exp.models.build", "melanoma_exp.data.shards", local=False, line=2)
    assert len(graph.layer_violations([up, side])) == 2
    loop = [graph.Import("melanoma_exp.data.a", "melanoma_exp.data.b", False, 1),
            graph.Import("melanoma_exp.data.b", "melanoma_exp.data.a", True, 1)]
    assert graph.cycles(loop) == [["melanoma_exp.data.a", "melanoma_exp.data.b"]]
    light = [graph.Import("melanoma_exp.data.a", "melanoma_exp.data.b", True, 3)]
    assert graph.needless_local_imports(light) == [
        "melanoma_exp.data.a:3 imports melanoma_exp.data.b inside a function, but it loads nothing heavy"]
    heavy = [graph.Import("melanoma_exp.data.b", "tensorflow", False, 1), *light]
    assert graph.needless_local_imports(heavy) == []


def test_the_command_line_starts_without_heavy_libraries():
    code = ("import sys, melanoma_exp.commands.main; "
            f"print(sorted(m for m in {sorted(graph.HEAVY)!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            timeout=120).stdout.strip()
    assert loaded == "[]"
