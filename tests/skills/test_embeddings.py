"""The embedders: the real MiniLM offline, the deterministic fallback, the
choice between them, and that none of it loads on the Action's path."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tracker.embeddings as embeddings
from tracker.embeddings import (
    DIMS,
    FALLBACK_NAME,
    MINILM_NAME,
    EmbedderUnavailable,
    HashingEmbedder,
    MiniLMEmbedder,
    QueryCache,
    get_embedder,
)

from ..conftest import REPO

TEXTS = ["run the unit tests", "deploy the container to kubernetes", ""]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_minilm_offline_gives_unit_vectors_that_mean_something(minilm: MiniLMEmbedder) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    vectors = minilm.embed(["run the unit tests", "execute my test suite", "push the docker image"])
    assert vectors.shape == (3, DIMS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Paraphrases are closer than unrelated texts: a meaning, not shared words.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert minilm.loaded and minilm.name == MINILM_NAME


def test_minilm_loads_from_the_package_files_not_the_hub() -> None:
    code = (
        "import os, socket\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "from tracker.embeddings import MiniLMEmbedder\n"
        "v = MiniLMEmbedder().embed(['hello'])\n"
        "print(v.shape[1], os.environ['HF_HUB_OFFLINE'])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.split() == [str(DIMS), "1"]


def test_fallback_is_deterministic_across_processes(fallback: HashingEmbedder) -> None:
    here = fallback.embed(TEXTS)
    code = (
        "import json; from tracker.embeddings import HashingEmbedder\n"
        f"print(json.dumps(HashingEmbedder().embed({TEXTS!r}).tolist()))"
    )
    there = np.array(json.loads(run_python(code, PYTHONHASHSEED="123").stdout), dtype=np.float32)
    assert np.array_equal(here, there)


def test_fallback_vectors(fallback: HashingEmbedder) -> None:
    v = fallback.embed([*TEXTS, "unit tests run"])
    assert v.shape == (4, DIMS)
    assert np.allclose(np.linalg.norm(v[:2], axis=1), 1.0, atol=1e-5)
    assert not v[2].any()  # empty text: zero vector, similar to nothing
    assert v[0] @ v[3] > v[0] @ v[1]  # shared words count


def test_choice_of_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_embedder("fallback").name == FALLBACK_NAME
    assert get_embedder("auto").name == MINILM_NAME  # the extra is installed here
    assert get_embedder("minilm") is get_embedder("minilm")  # one per process
    with pytest.raises(ValueError, match="auto, minilm, fallback"):
        get_embedder("bert")
    # Where the extra is not installed, auto falls back and minilm says why.
    monkeypatch.setattr(embeddings, "minilm_installed", lambda: False)
    assert get_embedder("auto").name == FALLBACK_NAME
    with pytest.raises(EmbedderUnavailable, match="embeddings"):
        get_embedder("minilm")


def test_query_cache_returns_the_same_vector(fallback: HashingEmbedder) -> None:
    cache = QueryCache(fallback)
    first = cache.embed_one("run tests")
    first[0] = 42.0  # callers get a copy: the cache cannot be changed through it
    assert np.array_equal(cache.embed_one("run tests"), fallback.embed(["run tests"])[0])


def test_nothing_heavy_loads_on_the_actions_path_or_on_import() -> None:
    code = (
        "import sys, entrypoint, tracker\n"
        "from tracker import CIPipelineContext, WorkflowPhase\n"
        "import tracker.ide, tracker.skills, tracker.crackerjack, receiver\n"
        "print(' '.join(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))"
    )
    assert run_python(code).stdout.strip() == ""
    action = "import sys, entrypoint\nprint('numpy' in sys.modules, 'sqlalchemy' in sys.modules)"
    assert run_python(action).stdout.split() == ["False", "False"]


GEVENT_EMBED = """
from gevent import monkey

monkey.patch_all()
import time

import gevent

from tests.support.gevent_ticker import start_ticker, ticks_between
from tracker.embeddings import MiniLMEmbedder

ticks = start_ticker()
gevent.sleep(0.05)
start = time.monotonic()
vectors = MiniLMEmbedder().embed(["run the unit tests"])  # loads the model: seconds
took = time.monotonic() - start
print(vectors.shape[1], round(took, 2), ticks_between(ticks, start, start + took))
"""


def test_loading_minilm_under_gevent_lets_the_other_requests_run() -> None:
    # A gevent worker runs every request on one OS thread: the model's load
    # and encoding go to gevent's thread pool, and the other greenlets
    # (requests) go on meanwhile instead of waiting seconds.
    out = subprocess.run(
        [sys.executable, "-c", GEVENT_EMBED],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=True,
    ).stdout.split()
    dims, took, ticks = int(out[0]), float(out[1]), int(out[2])
    assert dims == DIMS
    assert took > 0.5  # it did load the model
    assert ticks >= took / 0.01 / 4  # the ticker ran through most of it
