"""Shared set-up for the compatibility tests: the server under test.

scripts/test-compat.sh starts Monaco on a loopback port and passes its URL
in MONACO_URL; the tests never reach any other host.
"""

import json
import os
import urllib.request
from urllib.parse import urlparse

import pytest


@pytest.fixture(scope="session")
def base_url() -> str:
    url = os.environ.get("MONACO_URL")
    if not url:
        pytest.fail("MONACO_URL is not set: run scripts/test-compat.sh")
    host = urlparse(url).hostname
    assert host in ("127.0.0.1", "::1", "localhost"), f"tests talk to loopback only, not {host}"
    return url.rstrip("/")


@pytest.fixture(scope="session")
def hello_programs(base_url) -> dict:
    """Monaco's own hello-world program of each language, by Monaco id."""
    with urllib.request.urlopen(f"{base_url}/api/languages", timeout=10) as r:
        return {lang["id"]: lang["helloWorld"] for lang in json.load(r)}
