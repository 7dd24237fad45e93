"""GitHub clients (token, App) and the bounded retry loop, without the app."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
import responses
from click.testing import CliRunner
from github import GithubException

from receiver import create_app
from receiver.cli import main
from receiver.github_client import GitHubClients, GitHubNotConfigured
from receiver.github_retry import GitHubCallFailed, RetryPolicy, call_with_retries, retry_after
from tests.webhooks.helpers import GH, TOKEN, Sleeps, calls
from tracker.settings import Settings


def _pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


class TestClients:
    def test_nothing_configured(self) -> None:
        clients = GitHubClients(Settings())
        assert not clients.configured
        with pytest.raises(GitHubNotConfigured, match="SESSION_BUDDY_CI_GITHUB_TOKEN"):
            clients.client(repository="o/r")

    def test_token(self, api: responses.RequestsMock) -> None:
        api.add(responses.GET, f"{GH}/repos/o/r/pulls", json=[])
        gh = GitHubClients(Settings(github_token=TOKEN), throttle=False).client()
        assert list(gh.get_repo("o/r").get_pulls()) == []
        assert api.calls[0].request.headers["Authorization"] == f"token {TOKEN}"

    def test_app_key_from_file_and_the_repository_installation(
        self, tmp_path: Path, api: responses.RequestsMock
    ) -> None:
        key_file = tmp_path / "app.pem"
        key_file.write_text(_pem())
        settings = Settings(github_app_id="12345", github_private_key_file=str(key_file))
        clients = GitHubClients(settings, throttle=False)
        assert clients.uses_app and clients.configured
        api.add(
            responses.GET,
            f"{GH}/repos/o/r/installation",
            json={"id": 77, "app_id": 12345, "account": {"login": "o"}},
        )
        api.add(
            responses.POST,
            f"{GH}/app/installations/77/access_tokens",
            json={"token": "ghs_77", "expires_at": "2099-01-01T00:00:00Z"},
            status=201,
        )
        api.add(responses.GET, f"{GH}/repos/o/r/pulls", json=[])
        gh = clients.client(repository="o/r")  # no installation id: as the backfill calls it
        list(gh.get_repo("o/r").get_pulls())
        assert [path for _, path in calls(api)] == [
            "/repos/o/r/installation",
            "/app/installations/77/access_tokens",
            "/repos/o/r/pulls?per_page=100",
        ]
        assert api.calls[2].request.headers["Authorization"] == "token ghs_77"


_BROKEN_KEY = "-----BEGIN RSA PRIVATE KEY-----\nQUJD-secret-bits\n-----END RSA PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"github_private_key_file": "{tmp}/missing.pem"},
            r"^cannot read the private key file '.*missing\.pem': No such file or directory$",
        ),
        ({"github_private_key": "not a key"}, "GITHUB_PRIVATE_KEY holds no PEM private key"),
        ({"github_private_key": _BROKEN_KEY}, r"holds no RSA private key GitHub Apps sign with \(\w+\)$"),
        ({"github_token": "t", "github_api_url": "notaurl"}, "'notaurl' is no http\\(s\\) URL"),
        # With a token too: the App is what the clients use, so its key counts.
        ({"github_token": "t", "github_private_key": "not a key"}, "GITHUB_PRIVATE_KEY holds no PEM"),
        ({"github_private_key_file": "{tmp}/empty.pem"}, r"the private key file '.*empty\.pem' is empty$"),
    ],
)
def test_misconfigured_github_is_one_clear_error_everywhere(
    tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    """In the library (one GitHubNotConfigured, the key never quoted) and in
    each command that calls GitHub, serve included: one line, exit 1, where
    these were tracebacks (FileNotFoundError, InvalidKeyError,
    AttributeError) or a worker failing to boot."""
    values = {k: v.replace("{tmp}", str(tmp_path)) for k, v in settings.items()}
    (tmp_path / "empty.pem").write_text("\n")
    clients = GitHubClients(Settings(github_app_id="12345").with_(**values))
    with pytest.raises(GitHubNotConfigured, match=message) as caught:
        clients.client(installation_id=1)
    assert "secret-bits" not in str(caught.value)
    with pytest.raises(GitHubNotConfigured, match=message):  # gunicorn receiver.wsgi:app directly
        create_app(Settings(github_app_id="12345", database_url=f"sqlite:///{tmp_path}/a.db").with_(**values))
    env = {f"SESSION_BUDDY_CI_{k.upper()}": v for k, v in values.items()}
    env.update(SESSION_BUDDY_CI_GITHUB_APP_ID="12345", SESSION_BUDDY_CI_DATA_DIR=str(tmp_path))
    for command in (["backfill", "o/r"], ["replay-deliveries"], ["serve", "--port", "1"]):
        result = CliRunner().invoke(main, ["--database", str(tmp_path / "c.db"), *command], env=env)
        assert result.exit_code == 1, (command, result.output)
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1
        assert re.search(message.removeprefix("^").removesuffix("$"), result.output), result.output
        assert "secret-bits" not in result.output


def test_an_app_key_is_checked_once_not_on_every_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signing the check token costs ~40 ms of CPU: once per key, not per
    client (a PR comment, a fork look-up), which under gevent would hold up
    every request of the worker."""
    import jwt

    signed: list[str] = []
    real_encode = jwt.encode

    def counting_encode(*args: object, **kwargs: object) -> str:
        signed.append("x")
        return real_encode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "encode", counting_encode)
    key_file = tmp_path / "app.pem"
    key_file.write_text(_pem())
    clients = GitHubClients(Settings(github_app_id="1", github_private_key_file=str(key_file)))
    for _ in range(3):
        clients.client(installation_id=7)
    assert len(signed) == 1


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> GithubException:
    return GithubException(status, {"message": message}, headers or {})


class TestRetries:
    def test_retry_after_forms(self) -> None:
        assert retry_after({"retry-after": "12"}, 0.0) == 12.0
        assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, 1445412480.0) == 10.0
        assert retry_after({"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "999"}, 0.0) is None
        assert retry_after(None, 0.0) is None
        assert retry_after({"Retry-After": "²"}, 0.0) is None  # a digit to isdigit(), not to float()
        assert retry_after({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "①"}, 0.0) is None

    def test_network_errors_are_retried(self) -> None:
        attempts: list[int] = []

        def flaky() -> str:
            attempts.append(1)
            if len(attempts) < 3:
                raise requests.exceptions.ConnectionError("reset")
            return "ok"

        sleeps = Sleeps()
        assert call_with_retries("x", flaky, sleep=sleeps) == "ok"
        assert sleeps == [1.0, 2.0]

    def test_before_attempt_runs_before_every_attempt_and_can_stop_them(self) -> None:
        events: list[str] = []

        def flaky() -> str:
            events.append("call")
            if events.count("call") < 3:
                raise requests.exceptions.ConnectionError("reset")
            return "ok"

        def renew() -> None:
            events.append("renew")

        assert call_with_retries("x", flaky, sleep=Sleeps(), before_attempt=renew) == "ok"
        assert events == ["renew", "call"] * 3

        def lost() -> None:
            raise LookupError("taken over")

        with pytest.raises(LookupError, match="taken over"):
            call_with_retries("x", flaky, sleep=Sleeps(), before_attempt=lost)
        assert events.count("call") == 3  # not called again

    def test_primary_rate_limit_waits_for_the_reset(self) -> None:
        calls = iter(
            [
                _error(
                    403, "API rate limit exceeded", {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "105"}
                )
            ]
        )

        def call() -> str:
            for exc in calls:
                raise exc
            return "ok"

        sleeps = Sleeps()
        assert call_with_retries("x", call, sleep=sleeps, clock=lambda: 100.0) == "ok"
        assert sleeps == [5.0]

    def test_total_wait_is_bounded(self) -> None:
        def always() -> None:
            raise _error(503, "Service Unavailable", {"Retry-After": "20"})

        sleeps = Sleeps()
        with pytest.raises(GitHubCallFailed, match="beyond the retry bound") as info:
            call_with_retries(
                "x", always, sleep=sleeps, policy=RetryPolicy(max_attempts=10, max_total_wait=50)
            )
        assert sleeps == [20.0, 20.0]  # a third wait would pass 50 s
        assert info.value.status == 503

    def test_not_found_is_not_retried(self) -> None:
        sleeps = Sleeps()
        with pytest.raises(GitHubCallFailed, match="editing: 404 Not Found") as info:
            call_with_retries(
                "editing", lambda: (_ for _ in ()).throw(_error(404, "Not Found")), sleep=sleeps
            )
        assert (info.value.status, sleeps) == (404, [])
