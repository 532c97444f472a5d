"""Client IPs in the production image: X-Forwarded-For is believed only from the configured proxies
(FORWARDED_ALLOW_IPS, loopback by default), never from anyone (`*`), so a client cannot pick the IP that
the per-IP limits count."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.outage_helpers import collected_static
from tests.stack_helpers import ROOT, production_env
from tests.test_production_stack import dockerfile_command, wait_until_serving

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_trusts_forwarded_headers_only_from_loopback_by_default_in_the_image() -> None:
    command = dockerfile_command()
    assert "*" not in command and "--forwarded-allow-ips" not in command
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.findall(r"^ENV FORWARDED_ALLOW_IPS=(\S+)$", dockerfile, re.MULTILINE) == ["127.0.0.1,::1"]


@contextmanager
def image_command(trusted_proxies: str) -> Iterator[str]:
    """docker/Dockerfile's CMD on the production settings; only the bind address and worker count change
    (one worker: the limit's counters are per test process prefix, so per worker)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = production_env(
        SITE_URL=url,
        ALLOWED_HOSTS="127.0.0.1",
        STATIC_ROOT=collected_static(),
        FORWARDED_ALLOW_IPS=trusted_proxies,
        TOKEN_PAGE_LIMIT_PER_IP="2",
        LOG_LEVEL="WARNING",
        DRAIN_SECONDS="0",
    )
    args = list(dockerfile_command())
    args[args.index("--bind") + 1] = f"127.0.0.1:{port}"
    args[args.index("--workers") + 1] = "1"
    args[args.index("gunicorn")] = str(Path(sys.executable).parent / "gunicorn")
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_serving(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def token_page_statuses(url: str) -> list[int]:
    """Three /token/ requests for three addresses, each claiming another client IP in X-Forwarded-For."""
    statuses = []
    page = httpx.get(f"{url}/token/", timeout=10)
    # DEBUG-off cookies are Secure; this is plain HTTP on loopback, so send the CSRF cookie ourselves.
    cookie = re.search(r"csrftoken=([^;]+)", page.headers["set-cookie"])
    form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert cookie and form_token
    for n in range(3):
        response = httpx.post(
            f"{url}/token/",
            data={"csrfmiddlewaretoken": form_token.group(1), "email": f"nobody{n}@example.com", "action": "resend"},
            headers={"Cookie": f"csrftoken={cookie.group(1)}", "X-Forwarded-For": f"198.51.100.{n + 1}"},
            timeout=10,
        )
        statuses.append(response.status_code)
    return statuses


def test_it_ignores_a_spoofed_forwarded_for_from_a_peer_that_is_not_a_configured_proxy() -> None:
    # The proxy is configured elsewhere; this client (loopback) is not it, so its X-Forwarded-For is
    # ignored and all three requests count against its one real IP (limit 2).
    with image_command("192.0.2.254") as url:
        assert token_page_statuses(url) == [200, 200, 429]
    # The same requests through a configured proxy: the forwarded IPs are believed (three clients).
    with image_command("127.0.0.1") as url:
        assert token_page_statuses(url) == [200, 200, 200]
