"""verify_signature: the docs' test vector, rotation, and every way to fail."""

from __future__ import annotations

import hmac

import pytest

from tracker.github.errors import SignatureError
from tracker.github.signature import sign, verify_signature

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"
VECTOR = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


class TestVerifySignature:
    def test_github_docs_test_vector(self) -> None:
        assert sign(BODY, SECRET) == VECTOR
        verify_signature(BODY, signature=VECTOR, secrets=[SECRET])

    def test_uppercase_hex_is_the_same_signature(self) -> None:
        verify_signature(BODY, signature="sha256=" + VECTOR[7:].upper(), secrets=[SECRET])

    def test_wrong_secret(self) -> None:
        with pytest.raises(SignatureError, match="does not match"):
            verify_signature(BODY, signature=VECTOR, secrets=["another secret"])

    def test_tampered_body(self) -> None:
        with pytest.raises(SignatureError, match="does not match"):
            verify_signature(b"Hello, World?", signature=VECTOR, secrets=[SECRET])

    @pytest.mark.parametrize("missing", [None, ""])
    def test_missing_signature(self, missing: str | None) -> None:
        with pytest.raises(SignatureError, match="missing X-Hub-Signature-256"):
            verify_signature(BODY, signature=missing, secrets=[SECRET])

    @pytest.mark.parametrize(
        "bad",
        [
            "sha1=" + "0" * 40,  # the old header's algorithm is refused
            VECTOR[7:],  # no prefix
            "sha256=" + VECTOR[7:-1],  # 63 digits
            "sha256=" + "g" * 64,
        ],
    )
    def test_malformed_signature(self, bad: str) -> None:
        with pytest.raises(SignatureError, match="64 hex digits"):
            verify_signature(BODY, signature=bad, secrets=[SECRET])

    def test_no_secret_configured_never_verifies(self) -> None:
        with pytest.raises(SignatureError, match="no webhook secret"):
            verify_signature(BODY, signature=VECTOR, secrets=[])
        with pytest.raises(SignatureError, match="no webhook secret"):
            verify_signature(BODY, signature=sign(BODY, ""), secrets=[""])

    def test_rotation_accepts_old_and_new(self) -> None:
        secrets = ["new secret", SECRET]
        verify_signature(BODY, signature=VECTOR, secrets=secrets)
        verify_signature(BODY, signature=sign(BODY, "new secret"), secrets=secrets)
        with pytest.raises(SignatureError):
            verify_signature(BODY, signature=sign(BODY, "retired"), secrets=secrets)

    def test_every_secret_is_compared_even_after_a_match(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls: list[bytes] = []
        real = hmac.compare_digest

        def counting(a: bytes, b: bytes) -> bool:
            calls.append(b)
            return real(a, b)

        monkeypatch.setattr(hmac, "compare_digest", counting)
        verify_signature(BODY, signature=VECTOR, secrets=[SECRET, "two", "three"])
        assert len(calls) == 3
