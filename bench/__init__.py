"""Benchmarks (never timed tests). `make bench` = `python -m bench`: runs every `bench/bench_*.py`.

Each benchmark module has `main(argv: list[str] | None = None) -> str`: it runs with short defaults
(well under two minutes on 2 cores), prints measured numbers as it goes, and returns a Markdown
section, headed `## <title> (bench_<name>)`, that the runner collects into BENCHMARKS.md. Options for
bigger runs go through argv (`python -m bench.bench_pipeline --help`). `smoke_args(workdir) ->
list[str]` is its smallest real run: `tests/bench/test_bench_smoke.py` runs it in `make test`.
"""
