"""Run every benchmark (``make bench``) and print a one-line verdict per target."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import api_load  # noqa: E402 - the benchmarks beside this file, found through the path set above
import documents  # noqa: E402
import pk_population  # noqa: E402
import questionnaires  # noqa: E402
import register  # noqa: E402
import scale  # noqa: E402
import schedule  # noqa: E402
import web_pages  # noqa: E402

# schedule (issue 13), register (issue 14), questionnaires (issue 15: its pages and the outcome report with PROMs),
# scale (issue 17: the clinic group grown in bulk; the longest, so last)
BENCHMARKS = [pk_population, web_pages, api_load, documents, schedule, register, questionnaires, scale]


def main() -> int:
    failed = 0
    for module in BENCHMARKS:
        name = module.__name__
        result = module.main()
        print(f"== {name}")
        print(json.dumps(result, indent=2))
        for target, met in result.get("targets_met", {}).items():
            print(f"  {'OK  ' if met else 'MISS'} {target}")
            failed += not met
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
