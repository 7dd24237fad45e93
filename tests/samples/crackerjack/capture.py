"""Capture a real Crackerjack run as JSON lines, for the parser's tests.

    python tests/samples/crackerjack/capture.py OUT.jsonl -- crackerjack run -n

The first line is a header (argv, exit code, seconds); each next line is
``{"t": seconds since the start, "line": text}`` exactly as Crackerjack
printed it to a pipe (stdout and stderr merged). Run it in the project to
check; the environment is passed through.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    out, sep, *command = argv
    assert sep == "--" and command, __doc__
    start = time.monotonic()
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.append({"t": round(time.monotonic() - start, 3), "line": raw.decode("utf-8", "replace").rstrip("\n")})
    header = {"argv": command, "exit_code": proc.returncode, "seconds": round(time.monotonic() - start, 3)}
    with open(out, "w", encoding="utf-8") as fh:
        for item in [header, *lines]:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
