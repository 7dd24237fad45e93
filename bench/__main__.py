"""Run every benchmark in turn with its defaults: ``python -m bench``.

Each one is also runnable alone (``python -m bench.analytics --help``…) and
prints its own figures and targets. They are benchmarks, not tests: the
machine's load moves the numbers, so ratios are printed where it matters.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("analytics", "ingest", "action_overhead", "webhook_load", "ide_recommendations")


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== bench.{name} ===", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed or missed a target: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
