"""Delivery of stage results to a real (loopback) HTTP receiver: retries,
refusals, the spool and its replay, and exactly-once under lost answers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ci_action import delivery
from tests.support.server import free_port

from .conftest import TOKEN, Action
from .receiver_double import receiver_double


def test_retries_on_503_then_delivers_under_one_key(action: Action) -> None:
    with receiver_double(503, 500, "store") as receiver:
        step = action("true", receiver_url=receiver.url, token=TOKEN)
    assert step.code == 0 and step.outputs["delivered"] == "true"
    assert len(receiver.requests) == 3
    assert len(set(receiver.keys())) == 1
    assert {json.dumps(r.body, sort_keys=True) for r in receiver.requests} == {
        json.dumps(receiver.requests[0].body, sort_keys=True)
    }
    assert all(r.path == "/api/v1/stage-results" for r in receiver.requests)
    assert receiver.requests[0].headers["Content-Type"] == "application/json"
    assert len(receiver.stored) == 1
    assert "::warning" not in step.out


def test_no_retry_on_a_client_error(action: Action) -> None:
    with receiver_double(400) as receiver:
        step = action("exit 0", receiver_url=receiver.url, token=TOKEN)
    assert len(receiver.requests) == 1
    assert step.code == 0
    assert step.outputs["delivered"] == "false"
    assert (
        "::warning::the receiver at http://127.0.0.1:" in step.out
        and "refused the stage result (HTTP 400: scripted answer 400)" in step.out
    )
    assert action.spooled() == []


def test_wrong_token_is_a_warning_not_a_spool(action: Action) -> None:
    with receiver_double(403) as receiver:
        step = action("true", receiver_url=receiver.url, token="wrong")
    assert len(receiver.requests) == 1 and step.outputs["delivered"] == "false"
    assert "(HTTP 403: scripted answer 403)" in step.out
    assert action.spooled() == []


def test_retry_after_is_respected_and_capped(action: Action, fast_policy: delivery.RetryPolicy) -> None:
    with receiver_double(("retry-after", 429, "1"), "store") as receiver:
        started = time.monotonic()
        step = action("true", receiver_url=receiver.url)
        waited = time.monotonic() - started
    assert step.outputs["delivered"] == "true" and len(receiver.requests) == 2
    # Retry-After: 1 asks for a second; the policy caps any pause at 0.3 s.
    assert fast_policy.max_pause <= waited < 1.0


def test_a_retry_after_that_is_no_number_falls_back_to_backoff(action: Action) -> None:
    # "²" is a digit to str.isdigit() but not to float().
    with receiver_double(("retry-after", 503, "²"), "store") as receiver:
        step = action("true", receiver_url=receiver.url)
    assert step.code == 0 and step.outputs["delivered"] == "true" and len(receiver.requests) == 2


def test_spool_when_the_receiver_is_down_kept_for_that_receiver(action: Action) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    first = action("exit 1", stage="build", skill="uv-install", receiver_url=down, token=TOKEN)
    assert first.code == 1
    assert first.outputs["delivered"] == "spooled"
    assert "::warning::the stage result could not be delivered to" in first.out
    [line] = action.spooled()
    spooled = json.loads(line)
    assert spooled["url"] == down + "/api/v1/stage-results"
    assert json.loads(spooled["body"])["stage"] == "build"

    # The receiver comes back on another address; the spool is for the old
    # one, so it waits. Then a step that uses the old address sends it.
    with receiver_double() as receiver:
        second = action("true", stage="test", receiver_url=receiver.url, token=TOKEN)
        assert [r.body["stage"] for r in receiver.requests] == ["test"]
        assert len(action.spooled()) == 1
    assert second.outputs["delivered"] == "true"


def test_replay_sends_the_spool_first_and_empties_it(action: Action) -> None:
    with receiver_double(503, 503, 503) as receiver:
        first = action("exit 2", stage="build", receiver_url=receiver.url, token=TOKEN)
        assert first.outputs["delivered"] == "spooled"
        first_key = receiver.keys()[0]
        second = action("true", stage="lint", receiver_url=receiver.url, token=TOKEN)
    assert second.outputs["delivered"] == "true"
    stages = [r.body["stage"] for r in receiver.requests]
    assert stages == ["build"] * 3 + ["build", "lint"]
    assert receiver.keys()[3] == first_key
    assert [b["stage"] for b in receiver.stored_bodies()] == ["build", "lint"]
    assert action.spooled() == []
    assert "::group::session-buddy-ci: sending 1 spooled result(s) first" in second.out
    assert "1 of 1 spooled result(s) delivered" in second.out


def test_a_down_receiver_costs_one_attempt_per_step_once_the_spool_fails(action: Action) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    action("true", stage="a", receiver_url=down)
    started = time.monotonic()
    second = action("true", stage="b", receiver_url=down)
    assert second.outputs["delivered"] == "spooled"
    assert "after 1 attempt(s)" in second.out
    assert time.monotonic() - started < 1.0
    assert [json.loads(json.loads(line)["body"])["stage"] for line in action.spooled()] == ["a", "b"]


def test_lost_answer_is_not_counted_twice(action: Action) -> None:
    # Stored, but the connection closes before the answer: the retry under
    # the same key gets the first answer back, and nothing is stored twice.
    with receiver_double("store-and-drop") as receiver:
        step = action("true", receiver_url=receiver.url)
    assert step.outputs["delivered"] == "true"
    assert len(receiver.requests) == 2 and len(set(receiver.keys())) == 1
    assert len(receiver.stored) == 1


def test_lost_answers_then_spool_then_replay_stores_once(action: Action) -> None:
    with receiver_double("store-and-drop", "drop", "drop") as receiver:
        first = action("exit 1", stage="build", receiver_url=receiver.url)
        assert first.outputs["delivered"] == "spooled"
        second = action("true", stage="test", receiver_url=receiver.url)
    assert second.outputs["delivered"] == "true"
    keys = receiver.keys()
    assert keys[:4] == [keys[0]] * 4  # 3 attempts, then the replay
    assert [b["stage"] for b in receiver.stored_bodies()] == ["build", "test"]
    assert action.spooled() == []


def test_a_hanging_receiver_times_out_and_spools(action: Action, fast_policy: delivery.RetryPolicy) -> None:
    with receiver_double("hang", "hang", "hang") as receiver:
        started = time.monotonic()
        step = action("true", receiver_url=receiver.url)
        elapsed = time.monotonic() - started
    assert step.code == 0 and step.outputs["delivered"] == "spooled"
    assert "TimeoutError" in step.out or "timed out" in step.out
    assert len(receiver.requests) == 3
    assert elapsed < fast_policy.attempts * (fast_policy.timeout + fast_policy.max_pause) + 1


def test_refused_spool_entry_is_dropped_with_a_warning(action: Action) -> None:
    with receiver_double(503, 503, 503, 400, "store") as receiver:
        action("true", stage="build", receiver_url=receiver.url)
        step = action("true", stage="test", receiver_url=receiver.url)
    assert step.outputs["delivered"] == "true"
    assert "a spooled result was refused and dropped: HTTP 400" in step.out
    assert action.spooled() == []
    assert [b["stage"] for b in receiver.stored_bodies()] == ["test"]


def test_bad_receiver_url_is_a_tracking_warning(action: Action) -> None:
    step = action("exit 0", receiver_url="ftp://ci.example.com")
    assert step.code == 0 and step.outputs["delivered"] == "false"
    assert "::warning::receiver-url must be an http:// or https:// URL" in step.out


def test_spool_survives_corrupt_lines(action: Action) -> None:
    path = action.runner_temp / delivery.SPOOL_NAME
    with receiver_double() as receiver:
        good = delivery.Pending("key-1", receiver.url + delivery.API_PATH, "{}")
        path.write_text("not json\n" + good.line())
        with receiver_double() as other:
            step = action("true", receiver_url=other.url)
        assert step.outputs["delivered"] == "true"
    # The corrupt line is dropped on rewrite; the entry for another receiver stays.
    assert action.spooled() == [good.line().strip()]


def test_a_bad_flag_value_warns_but_the_result_is_still_sent(action: Action) -> None:
    with receiver_double() as receiver:
        step = action("true", receiver_url=receiver.url, fail_on_tracking_error="yes")
    assert step.code == 0 and step.outputs["delivered"] == "true"
    assert "::warning::fail-on-tracking-error must be true or false, not 'yes'; using false" in step.out
    assert len(receiver.stored) == 1


@pytest.mark.parametrize("token", ["secret\nline", "secret\u201ctoken"])
def test_a_header_no_request_can_carry_is_neither_retried_nor_spooled(token: str, tmp_path: Path) -> None:
    """A line break (ValueError) or a character beyond Latin-1
    (UnicodeEncodeError) in the token: http.client cannot build the
    request, and would not on a retry either. Its message quotes the
    header: the answer never does."""
    with receiver_double() as receiver:
        answer = delivery.post(receiver.url + "/api/v1/stage-results", "{}", key="k", token=token, timeout=2)
        assert answer.status is None and not answer.retryable
        assert "secret" not in answer.reason and "cannot carry" in answer.reason
        report = delivery.deliver(receiver.url, token, {"stage": "x"}, spool_dir=tmp_path)
    assert receiver.requests == []
    assert report.outcome is delivery.Delivered.NOT_SENT
    assert report.problems == [f"the stage result was not sent: {answer.reason}"]
    assert not (tmp_path / delivery.SPOOL_NAME).exists()
