"""Benchmark hook, active only when bench/measure.py puts this folder on PYTHONPATH.

At exit the measured process writes the sorted top-level non-stdlib packages it imported to the file
named by LLMOPS_BENCH_MODULES, so the benchmark can check that a cached run, `--help` or
`check` never imported litellm (or pandas, openai, aiohttp...).
"""

import os

_target = os.environ.get("LLMOPS_BENCH_MODULES")
if _target:
    import atexit
    import sys

    def _dump(path: str = _target) -> None:
        import json

        top = {name.split(".", 1)[0] for name in list(sys.modules)}
        names = sorted(n for n in top if n not in sys.stdlib_module_names and not n.startswith("_")
                       and n not in ("sitecustomize", "__main__"))
        with open(path, "w") as fh:
            json.dump(names, fh)

    atexit.register(_dump)
