"""Run a Python script as on a machine without TensorFlow: `python without_tensorflow.py SCRIPT ARGS...`
(or `-c CODE`).

Any import of `tensorflow` (or `tf_keras`) fails with ModuleNotFoundError, as where it is not
installed (the GPU box of issue 17 has JAX and no TensorFlow). The script runs as `__main__`.
"""

import importlib.abc
import runpy
import sys

BLOCKED = ("tensorflow", "tf_keras")


class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: a machine without TensorFlow)",
                                      name=name)
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, NoTensorFlow())
    if sys.argv[1] == "-c":  # without_tensorflow.py -c CODE
        code, sys.argv = sys.argv[2], ["-c", *sys.argv[3:]]
        exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
    else:  # without_tensorflow.py SCRIPT ARGS...
        script, sys.argv = sys.argv[1], sys.argv[1:]
        runpy.run_path(script, run_name="__main__")
