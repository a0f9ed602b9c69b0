"""On a Space with `hf_oauth: true` the app shows Hugging Face's sign-in button and serves its OAuth routes;
elsewhere it has no button (gradio's local mock would demand an HF token) and visitors keep browser ids."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from tests.harness import free_port

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.integration

SPACE_ENV = {  # what Hugging Face sets in a Space whose README front matter says hf_oauth: true
    "SYSTEM": "spaces", "SPACE_ID": "ragscope/ragscope", "SPACE_HOST": "ragscope-ragscope.hf.space",
    "OAUTH_CLIENT_ID": "test-client", "OAUTH_CLIENT_SECRET": "test-secret", "OAUTH_SCOPES": "openid profile",
}


def _fake_provider() -> tuple[HTTPServer, str]:
    """An OpenID provider that only publishes its metadata (no internet here to reach huggingface.co)."""
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = json.dumps({"issuer": base, "authorization_endpoint": f"{base}/oauth/authorize",
                               "token_endpoint": f"{base}/oauth/token", "jwks_uri": f"{base}/oauth/jwks",
                               "userinfo_endpoint": f"{base}/oauth/userinfo"}).encode()
            self.send_response(200 if self.path == "/.well-known/openid-configuration" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server.RequestHandlerClass = Handler
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, base


def _serve(home: Path, extra: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SPACE_ENV and k != "OPENID_PROVIDER_URL"}
    env.update({"RAGSCOPE_HOME": str(home), "GRADIO_SERVER_PORT": str(port), "RAGSCOPE_DEMO_CORPUS": "0", **extra})
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            if httpx.get(url + "/config", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("the app did not start")


def _has_login_button(url: str) -> bool:
    components = httpx.get(url + "/config", timeout=10).json()["components"]
    return any(c.get("props", {}).get("elem_id") == "hf-login" for c in components)


@pytest.mark.parametrize("on_space", [True, False], ids=["space-with-oauth", "laptop"])
def test_sign_in_button_only_where_oauth_is_on(tmp_path: Path, on_space: bool) -> None:
    provider, provider_url = _fake_provider()
    env = {**SPACE_ENV, "OPENID_PROVIDER_URL": provider_url} if on_space else {}
    proc, url = _serve(tmp_path / "home", env)
    try:
        assert _has_login_button(url) is on_space
        login = httpx.get(url + "/login/huggingface", timeout=10, follow_redirects=False)
        if on_space:  # gradio's real OAuth route: a redirect to Hugging Face's authorize page
            assert login.status_code in (302, 307), login.text
            location = login.headers["location"]
            assert location.startswith(f"{provider_url}/oauth/authorize") and "client_id=test-client" in location
        else:
            assert login.status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        provider.shutdown()
