"""The Kotlin core's JUnit suite, run through `make -C mobile test` so `make test` covers it too.

The Makefile compiles mobile/core with kotlinc (npm), exports a tiny real bundle, writes the
preprocessing fixtures with the serving app's own code, links the app's resources with aapt2 and
runs JUnit against two real serving instances on 127.0.0.1. The runner finds its test classes
itself (every top-level class of build/core-tests.jar with an `@org.junit.Test` method), prints
`discovered N test classes: A, B, ...` first and `N passed, M failed` last. This test checks that
the discovered classes are exactly the test classes in mobile/core/src/test/kotlin, that every test
ran and passed, and that the count of `ok` lines matches the closing line.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

MOBILE = Path(__file__).resolve().parents[2] / "mobile"
TEST_SRC = MOBILE / "core" / "src" / "test" / "kotlin"
CLOSING = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)
DISCOVERED = re.compile(r"^discovered (\d+) test classes: (.*)$", re.MULTILINE)
OK_LINE = re.compile(r"^ok   \S", re.MULTILINE)
# A top-level (unindented) declaration, with its modifiers; nested classes are indented.
TOP_LEVEL_CLASS = re.compile(
    r"^(?P<mods>(?:(?:public|internal|private|open|final|abstract|sealed|data|enum|annotation)\s+)*)"
    r"(?P<kind>class|object|interface)\s+(?P<name>\w+)")
TEST_ANNOTATION = re.compile(r"^\s*@(?:org\.junit\.)?Test\b")


def kotlin_test_classes(root: Path = TEST_SRC) -> set[str]:
    """Names of the top-level Kotlin classes under ``root`` that hold an `@Test` method.

    Each `@Test` belongs to the last top-level declaration above it in its file; abstract classes
    and interfaces are not runnable, so (like the runner) they do not count.
    """
    names: set[str] = set()
    for path in sorted(root.rglob("*.kt")):
        current: str | None = None
        for line in path.read_text(encoding="utf-8").splitlines():
            if m := TOP_LEVEL_CLASS.match(line):
                runnable = m["kind"] != "interface" and "abstract" not in m["mods"].split()
                current = m["name"] if runnable else None
            elif TEST_ANNOTATION.match(line) and current:
                names.add(current)
    return names


def test_kotlin_test_classes_are_read_from_the_sources():
    expected = kotlin_test_classes()
    assert {"ApiJsonTest", "ApiClientFailureTest", "FlowMachineTest"} <= expected
    assert not expected & {"RunAllTests", "RunAllTestsKt", "LineListener", "TestEnv", "Recording"}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_kotlin_core_suite_passes_against_the_real_server():
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", str(MOBILE), "test", f"PY={sys.executable}"],
        capture_output=True, text=True, timeout=880, check=False,
    )
    output = proc.stdout + proc.stderr
    closing = CLOSING.findall(proc.stdout)
    assert closing, f"no 'N passed, M failed' line; make exited {proc.returncode}:\n{output[-6000:]}"
    passed, failed = (int(n) for n in closing[-1])

    discovered = DISCOVERED.findall(proc.stdout)
    assert discovered, f"no 'discovered N test classes: ...' line from the runner:\n{output[-6000:]}"
    count, listed = discovered[-1]
    ran = {name.strip() for name in listed.split(",") if name.strip()}
    assert int(count) == len(ran), f"the runner says {count} classes but lists {len(ran)}: {listed}"
    expected = kotlin_test_classes()
    assert ran == expected, (
        f"the runner discovered {sorted(ran)}, the sources under {TEST_SRC} declare {sorted(expected)}: "
        f"not run: {sorted(expected - ran) or 'none'}; unexpected: {sorted(ran - expected) or 'none'}")

    assert failed == 0, f"{failed} Kotlin test(s) failed:\n{output[-6000:]}"
    oks = len(OK_LINE.findall(proc.stdout))
    assert passed == oks, f"closing line says {passed} passed, but {oks} 'ok' lines were printed:\n{output[-3000:]}"
    assert passed > 0, output[-3000:]
    assert proc.returncode == 0, output[-6000:]
    assert (MOBILE / "build" / "app-resources.apk").is_file(), "aapt2 did not link the app's resources"
