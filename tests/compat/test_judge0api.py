"""judge0api 0.1.20 against Monaco's Judge0 routes: its auth calls, a
wait=true run, and polling with trailing slashes."""

import time

import judge0api


def test_auth_calls(base_url):
    # The constructor posts /authenticate and /authorize with the token in
    # the query; with no keys configured Monaco accepts them.
    client = judge0api.Client(base_url, auth_token="token-1", auth_user="user-1")
    assert client.session.headers["X-Auth-Token"] == "token-1"
    assert client.session.headers["X-Auth-User"] == "user-1"


def test_wait_true_run(base_url):
    client = judge0api.Client(base_url)
    sub = judge0api.submission.submit(client, b"print(input() * 2)", 71, stdin=b"ab", expected_output=b"abab")
    assert sub.status["id"] == judge0api.Judge0Status.ACCEPTED.value
    assert sub.stdout == b"abab\n"


def test_polling_with_trailing_slashes(base_url):
    client = judge0api.Client(base_url)
    client.wait = False
    sub = judge0api.submission.submit(client, b"import time\ntime.sleep(0.3)\nprint('polled')", 71)
    assert sub.token
    for _ in range(600):
        got = judge0api.submission.get(client, sub.token)
        if got.status["id"] not in (1, 2):
            break
        time.sleep(0.1)
    assert got.status["id"] == judge0api.Judge0Status.ACCEPTED.value
    assert got.stdout == b"polled\n"
    assert got.language_id == 71
