"""Run every benchmark (``make bench``) and print a one-line verdict per target."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

# schedule (issue 13), register (issue 14), questionnaires (issue 15: its pages and the outcome report with PROMs),
# scale (issue 17: the clinic group grown in bulk; the longest, so last)
BENCHMARKS = ["pk_population", "web_pages", "api_load", "documents", "schedule", "register", "questionnaires", "scale"]


def main() -> int:
    failed = 0
    for name in BENCHMARKS:
        if not (HERE / f"{name}.py").exists():
            print(f"MISS {name}: benchmarks/{name}.py is missing")
            failed += 1
            continue
        module = importlib.import_module(name)
        result = module.main()
        print(f"== {name}")
        print(json.dumps(result, indent=2))
        for target, met in result.get("targets_met", {}).items():
            print(f"  {'OK  ' if met else 'MISS'} {target}")
            failed += not met
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
