"""The official Judge0 Python SDK (judge0 0.0.8) against Monaco's Judge0 routes.

The client is constructed explicitly for the local server, so the SDK's
own constructor checks (/languages, /config_info into its Config model)
run against Monaco. Statuses follow COMPAT.md section C.
"""

import base64

import judge0
import pytest
from judge0 import Status, Submission

# Judge0 1.13.1's ids, as languages.toml keeps them.
IDS = {"python": 71, "java": 62, "c": 50, "cpp": 54, "javascript": 63, "go": 60}

# A null pointer the compiler cannot see (a constant one may become a trap).
SEGFAULT_C = """
int main(int argc, char **argv) {
    int *p = (int *)(long)(argc - 1);
    *p = 1;
    return 0;
}
"""

ABORT_C = """
#include <stdlib.h>
int main(void) { abort(); }
"""


@pytest.fixture(scope="module")
def client(base_url):
    # The constructor fetches /languages and /config_info and validates them.
    return judge0.Client(base_url, headers={})


def test_constructor_checks_pass_and_config_is_read(client):
    assert client.config.enable_batched_submissions is True
    assert client.config.max_submission_batch_size >= 3
    assert {lang.id for lang in client.languages} >= set(IDS.values())
    # A LanguageAlias resolves through /about's version table.
    assert client.get_language_id(judge0.LanguageAlias.PYTHON) == 71
    assert client.is_language_supported(judge0.LanguageAlias.CPP)


@pytest.mark.parametrize("language", sorted(IDS))
def test_hello_world_in_every_language(client, hello_programs, language):
    result = judge0.run(client=client, source_code=hello_programs[language], language=IDS[language])
    assert result.status == Status.ACCEPTED, (result.status, result.stderr, result.compile_output)
    assert result.stdout == "Hello, World!\n"
    assert result.time is not None and result.memory is not None


def test_stdin(client):
    result = judge0.run(client=client, source_code="print(input()[::-1])", stdin="olleh", language=71)
    assert result.status == Status.ACCEPTED
    assert result.stdout == "hello\n"


def test_a_language_alias(client):
    result = judge0.run(client=client, source_code="print(6 * 7)", language=judge0.LanguageAlias.PYTHON)
    assert result.stdout == "42\n"


def test_batch_of_three_with_one_wrong_answer(client):
    code = "a, b = map(int, input().split())\nprint(a + b)"
    results = judge0.run(
        client=client,
        source_code=code,
        language=71,
        test_cases=[("1 2", "3"), ("2 2", "5"), ("10 20", "30  \n\n")],
    )
    assert [r.status for r in results] == [Status.ACCEPTED, Status.WRONG_ANSWER, Status.ACCEPTED]
    assert [r.stdout for r in results] == ["3\n", "4\n", "30\n"]


@pytest.mark.parametrize(
    "name,language,code,want,exit_code,exit_signal",
    [
        ("compile error", 50, "int main(void) { return x; }", Status.COMPILATION_ERROR, None, None),
        ("exit 3", 71, "import sys\nsys.exit(3)", Status.RUNTIME_ERROR_NZEC, 3, None),
        ("segfault", 50, SEGFAULT_C, Status.RUNTIME_ERROR_SIGSEGV, 0, 11),
        ("abort", 50, ABORT_C, Status.RUNTIME_ERROR_SIGABRT, 0, 6),
    ],
)
def test_failures_get_judge0_statuses(client, name, language, code, want, exit_code, exit_signal):
    result = judge0.run(client=client, source_code=code, language=language)
    assert result.status == want, (name, result.status, result.message, result.stderr)
    assert result.exit_code == exit_code, name
    assert result.exit_signal == exit_signal, name
    if want == Status.COMPILATION_ERROR:
        assert "x" in result.compile_output
        assert result.time is None and result.memory is None and result.stdout is None
    if want == Status.RUNTIME_ERROR_NZEC:
        # Judge0 encodes `message` too with base64_encoded=true; the SDK
        # does not decode it.
        assert base64.b64decode(result.message) == b"Exited with error status 3"


def test_time_limit(client):
    result = judge0.run(client=client, source_code="while True:\n    pass", language=71, cpu_time_limit=1)
    assert result.status == Status.TIME_LIMIT_EXCEEDED, (result.status, result.message)


def test_binary_stdout_through_base64(client):
    code = "import sys\nsys.stdout.buffer.write(bytes([0xff, 0x00, 0x41]))"
    result = judge0.run(client=client, source_code=code, language=71)
    assert result.status == Status.ACCEPTED
    # The SDK decodes base64 and shows bytes that are not UTF-8 escaped.
    assert result.stdout == "\\xff\x00A"


def test_async_submit_then_wait(client):
    submission = judge0.async_run(client=client, source_code="import time\ntime.sleep(0.5)\nprint('late')", language=71)
    assert submission.token is not None
    assert submission.status in (None, Status.IN_QUEUE, Status.PROCESSING)
    done = judge0.wait(client=client, submissions=submission)
    assert done.status == Status.ACCEPTED
    assert done.stdout == "late\n"
    assert done.created_at is not None and done.finished_at is not None


def test_unsupported_fields_are_refused(client):
    with pytest.raises(Exception) as raised:
        judge0.run(client=client, source_code="print(1)", language=71, enable_network=True)
    assert "422" in str(raised.value)
