"""IDE recommendation latency on a 10,000-skill catalogue.

Builds a catalogue of ``--skills`` skills (the built-in ones plus generated
ones) in a fresh SQLite file per embedder, then sends ``--requests`` warm
``POST /api/v1/ide/recommendations`` through the Flask app in-process (the
whole request: JSON parsing, validation, query embedding, KNN, history,
feedback and shortcut reads, JSON answer). Every request has a different
selection, so the query embedding is never served from the cache. It is
measured twice: with the storage's sqlite-vec (vec0) index, and with
sqlite-vec off (numpy brute force over the stored vectors).

Targets (p95, warm, 2-core machine): under 20 ms with the fallback
embedder, under 60 ms with MiniLM.

    python -m bench.ide_recommendations [--skills N] [--requests N] [--embedders fallback,minilm]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import Flask

from receiver import create_app, db
from tracker.catalogue import CatalogueEntry
from tracker.cicd import CICDTracker
from tracker.phases import WorkflowPhase
from tracker.semantic import SkillCatalogue
from tracker.settings import Settings
from tracker.storage import SkillsStorage

TARGETS_MS = {"hashing-v1": 20.0, "all-MiniLM-L6-v2": 60.0}

_TOOLS = (
    "ruff",
    "mypy",
    "pytest",
    "jest",
    "eslint",
    "docker",
    "helm",
    "terraform",
    "bandit",
    "black",
    "tsc",
    "uv",
)
_VERBS = (
    "check",
    "format",
    "lint",
    "test",
    "scan",
    "build",
    "deploy",
    "publish",
    "audit",
    "validate",
    "compile",
)
_OBJECTS = (
    "python modules",
    "type annotations",
    "unit tests",
    "container images",
    "kubernetes manifests",
    "sql queries",
    "dependencies",
    "docstrings",
    "async code",
    "frontend components",
    "infrastructure code",
    "release notes",
)
_LANGS = ("python", "javascript", "typescript", "sql", "go")

CONTEXTS = [
    ("src/test_main.py", "def test_foo():\n    assert add(1, 2) == 3"),
    ("web/cart.test.ts", "describe('cart', () => {\n  it('adds', () => {})\n})"),
    ("app/db.py", 'cursor.execute("SELECT id FROM users WHERE name = ?")'),
    ("tools/run.py", "subprocess.run(cmd, shell=True)"),
    ("app/service.py", "async def fetch(url):\n    return await client.get(url)"),
    ("app/models.py", "class User(Base):\n    names: list[str]"),
    ("Dockerfile", "FROM python:3.12-slim\nRUN pip install ."),
    ("src/index.ts", "export function total(xs: number[]): number {"),
]


def synthetic_entries(count: int, seed: int = 42) -> list[CatalogueEntry]:
    rng = random.Random(seed)
    phases = list(WorkflowPhase)
    return [
        CatalogueEntry(
            f"{rng.choice(_TOOLS)}-{rng.choice(_VERBS)}-{i:05d}",
            f"{rng.choice(_VERBS).title()} {rng.choice(_OBJECTS)} with {rng.choice(_TOOLS)} "
            f"before {rng.choice(_VERBS)}ing the {rng.choice(_OBJECTS)}.",
            rng.choice(phases),
            (rng.choice(_LANGS),) if rng.random() < 0.7 else (),
        )
        for i in range(count)
    ]


def build(path: Path, embedder: str, skills: int) -> tuple[float, int]:
    """Create the catalogue; returns the seconds embedding took and its size."""
    storage = SkillsStorage(path, settings=Settings(embedder=embedder))
    catalogue = SkillCatalogue(storage)
    catalogue.ensure_seeded()
    storage.seed_catalogue(synthetic_entries(skills - storage.catalogue_size()), builtin=False)
    started = time.perf_counter()
    catalogue.ensure_embedded()
    seconds = time.perf_counter() - started
    size = storage.catalogue_size()
    storage.close()
    return seconds, size


def app_for(path: Path, embedder: str, *, vector: bool) -> Flask:
    settings = Settings(database_url=f"sqlite:///{path}", embedder=embedder, log_level="WARNING")
    app = create_app(settings, TESTING=True)
    if not vector:
        # The same file without sqlite-vec: the numpy path.
        db.services(app).storage.close()
        storage = SkillsStorage(settings=settings, vector=False)
        app.extensions[db._KEY] = db.Services(storage=storage, cicd=CICDTracker(storage=storage))
    return app


def measure(app: Flask, requests: int) -> list[float]:
    client = app.test_client()
    for warm in range(3):  # model, vectors or index, statements
        warm_body = {
            "file_path": CONTEXTS[0][0],
            "line_number": 1,
            "selected_code": f"{CONTEXTS[0][1]}  # w{warm}",
        }
        assert client.post("/api/v1/ide/recommendations", json=warm_body).status_code == 200
    timings = []
    for i in range(requests):
        path, code = CONTEXTS[i % len(CONTEXTS)]
        body: dict[str, Any] = {
            "file_path": path,
            "line_number": 1 + i % 40,
            "selected_code": f"{code}\n# request {i} {random.random():.6f}",
            "project_name": "bench",
        }
        started = time.perf_counter()
        response = client.post("/api/v1/ide/recommendations", json=body)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_json()
    return timings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skills", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--embedders", default="fallback,minilm")
    args = parser.parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-ide-") as tmp:
        for embedder in args.embedders.split(","):
            path = Path(tmp) / f"{embedder}.db"
            seconds, size = build(path, embedder, args.skills)
            print(f"{embedder}: catalogue of {size} skills embedded in {seconds:.1f} s")
            for label, vector in (("vec0", True), ("numpy", False)):
                app = app_for(path, embedder, vector=vector)
                storage = db.services(app).storage
                assert storage.vector_enabled is vector or not vector
                timings = measure(app, args.requests)
                name = SkillCatalogue(storage).embedder_name
                p50, p95 = statistics.median(timings), percentile(timings, 0.95)
                target = TARGETS_MS[name]
                verdict = "ok" if p95 < target else "OVER TARGET"
                ok &= p95 < target
                print(
                    f"  {label:<6} {name:<17} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
                    f"max {max(timings):6.2f} ms"
                    f"  (target p95 < {target:.0f} ms: {verdict})"
                )
                storage.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
