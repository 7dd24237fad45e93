"""PyGithub clients: a token, or a GitHub App installation.

One :class:`GitHubClients` per process, built from the settings and
injected into the app (``create_app(..., GITHUB_CLIENTS=...)``) so tests can
point it at a mocked API. PyGithub's own retries are off (``retry=None``):
:mod:`receiver.github_retry` retries with a bound and respects
``Retry-After``, and the failure is recorded for replay.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from github import Auth, Github, GithubIntegration
from github.GithubObject import GithubObject

from tracker.errors import TrackerError
from tracker.settings import Settings
from tracker.urls import in_clear

log = logging.getLogger(__name__)

_PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


@functools.lru_cache(maxsize=8)
def _key_problem(key: str) -> str | None:
    """What makes ``key`` unusable to sign a GitHub App's tokens, or
    ``None``. Checked once per key (signing costs ~40 ms of CPU, which
    under gevent would hold up every request of the worker)."""
    if not _PEM_KEY.search(key):
        return "holds no PEM private key (-----BEGIN … PRIVATE KEY-----)"
    try:
        # As PyGithub's AppAuth will, on its first call: fail here, in a line.
        jwt.encode({"iss": "check"}, key, algorithm="RS256")
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        return f"holds no RSA private key GitHub Apps sign with ({type(exc).__name__})"
    return None


def listed(obj: GithubObject) -> dict[str, Any]:
    """The JSON an API list gave for ``obj``. (``obj.raw_data`` would fetch
    the object again: PyGithub counts list items as incomplete.)"""
    data: dict[str, Any] = obj._rawData  # what GithubObject.raw_data returns, without completing
    return dict(data)


class GitHubNotConfigured(TrackerError):
    """No token and no GitHub App: the receiver cannot call the API."""


@dataclass
class GitHubClients:
    """Builds clients for ``settings.github_api_url`` (GitHub Enterprise:
    ``https://HOST/api/v3``; ``http://`` works too).

    :param throttle: keep PyGithub's spacing between requests (0.25 s) and
        writes (1 s), which GitHub asks of integrations; tests turn it off.
    """

    settings: Settings
    throttle: bool = True
    timeout: int = 15

    @property
    def base_url(self) -> str:
        """:raises GitHubNotConfigured: for an address that is no http(s) URL."""
        url = self.settings.github_api_url.rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise GitHubNotConfigured(
                f"SESSION_BUDDY_CI_GITHUB_API_URL {url!r} is no http(s) URL, "
                "such as https://api.github.com or https://HOST/api/v3"
            )
        return url

    @property
    def uses_app(self) -> bool:
        """An App id and a key are set (checked when the key is read)."""
        s = self.settings
        return bool(s.github_app_id and (s.github_private_key or s.github_private_key_file))

    def check(self) -> None:
        """Read and check what is configured (the App's key, the API URL),
        for a command to say what is wrong before it starts.

        :raises GitHubNotConfigured: naming the setting.
        """
        if self.uses_app:
            self.private_key()  # the App wins over a token: its key must work
        if self.configured and in_clear(self.base_url):
            log.warning(
                "SESSION_BUDDY_CI_GITHUB_API_URL is an http:// address on another machine: "
                "the GitHub credentials cross the network unencrypted"
            )

    @property
    def configured(self) -> bool:
        """Whether the API can be called at all (a token or an App)."""
        return bool(self.settings.github_token) or self.uses_app

    def private_key(self) -> str:
        """The App's PEM key: the setting, else the file it names.

        :raises GitHubNotConfigured: for a file that cannot be read, or a
            key that is no PEM private key (the message never quotes it).
        """
        key, where = self.settings.github_private_key, "SESSION_BUDDY_CI_GITHUB_PRIVATE_KEY"
        if not key and self.settings.github_private_key_file:
            path = Path(self.settings.github_private_key_file).expanduser()
            where = f"the private key file {str(path)!r}"
            try:
                key = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
                raise GitHubNotConfigured(f"cannot read {where}: {reason}") from None
            if not key.strip():
                raise GitHubNotConfigured(f"{where} is empty")
        if key:
            problem = _key_problem(key)
            if problem:
                raise GitHubNotConfigured(f"{where} {problem}")
        return key

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "base_url": self.base_url,
            "timeout": self.timeout,
            "retry": None,
            "per_page": 100,
        }
        if not self.throttle:
            options.update(seconds_between_requests=None, seconds_between_writes=None)
        return options

    def client(self, *, installation_id: int | None = None, repository: str | None = None) -> Github:
        """A client for a repository: as the App installation (the payload's
        ``installation.id``, else the repository's installation), else with
        the token.

        :raises GitHubNotConfigured: with neither a token nor an App.
        """
        if self.uses_app:
            app_auth = Auth.AppAuth(int(self.settings.github_app_id), self.private_key())
            if installation_id is None:
                if repository is None:
                    raise GitHubNotConfigured("a GitHub App needs an installation id or a repository")
                owner, name = repository.split("/", 1)
                integration = GithubIntegration(auth=app_auth, **self._options())
                installation_id = int(integration.get_repo_installation(owner, name).id)
            return Github(auth=app_auth.get_installation_auth(installation_id), lazy=True, **self._options())
        if self.settings.github_token:
            return Github(auth=Auth.Token(self.settings.github_token), lazy=True, **self._options())
        raise GitHubNotConfigured(
            "no GitHub credentials: set SESSION_BUDDY_CI_GITHUB_TOKEN, or "
            "SESSION_BUDDY_CI_GITHUB_APP_ID with SESSION_BUDDY_CI_GITHUB_PRIVATE_KEY(_FILE)"
        )
