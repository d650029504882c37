"""avengers_pro.download against a local HTTP server started inside the tests (no internet)."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from avengers_pro.download import ensure_downloaded, sha256_of, verify_sha256
from avengers_pro.errors import ConfigError, DataError

PAYLOAD = b"sample_id,prompt\n" + b"x" * 5000 + b"\n"
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@dataclass
class Server:
    """A local server: ``/good`` serves PAYLOAD, ``/truncated`` dies mid-body, ``/missing`` is a 404."""

    base: str
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    # A proxy configured in the environment must not intercept requests to 127.0.0.1.
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - name fixed by http.server
            seen.append(self.path)
            if self.path == "/good":
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                self.wfile.write(PAYLOAD)
            elif self.path == "/truncated":
                # Promise the whole file, send half, close: the client sees a truncated body.
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
                self.wfile.flush()
                self.close_connection = True
            else:
                self.send_error(404)

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Server(base=f"http://127.0.0.1:{httpd.server_address[1]}", requests=seen)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_sha256_of_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(PAYLOAD)
    assert sha256_of(path) == PAYLOAD_SHA
    verify_sha256(path, PAYLOAD_SHA.upper())
    wrong = "1" * 64
    with pytest.raises(DataError) as excinfo:
        verify_sha256(path, wrong)
    message = str(excinfo.value)
    assert "f.csv" in message and wrong in message and PAYLOAD_SHA in message
    with pytest.raises(ConfigError, match="64 hexadecimal"):
        verify_sha256(path, "abc")


def test_download_once_then_never_again(tmp_path: Path, server: Server) -> None:
    target = tmp_path / "data" / "routerbench" / "file.csv"
    assert ensure_downloaded(f"{server.base}/good", target, PAYLOAD_SHA) is True
    assert target.read_bytes() == PAYLOAD
    assert server.requests == ["/good"]
    # Second call: the file matches, so the network is not touched (even an unreachable URL is fine).
    assert ensure_downloaded("http://127.0.0.1:9/unreachable", target, PAYLOAD_SHA) is False
    assert server.requests == ["/good"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.csv"]


def test_existing_file_with_other_checksum_is_an_error(tmp_path: Path, server: Server) -> None:
    target = tmp_path / "file.csv"
    target.write_bytes(b"the user's own data")
    local_sha = sha256_of(target)
    with pytest.raises(DataError) as excinfo:
        ensure_downloaded(f"{server.base}/good", target, PAYLOAD_SHA)
    message = str(excinfo.value)
    assert PAYLOAD_SHA in message and local_sha in message and "file.csv" in message
    assert target.read_bytes() == b"the user's own data"  # never overwritten
    assert server.requests == []


def assert_nothing_left(folder: Path) -> None:
    assert list(folder.iterdir()) == [], f"left behind: {list(folder.iterdir())}"


def test_downloaded_bytes_with_wrong_checksum(tmp_path: Path, server: Server) -> None:
    target = tmp_path / "file.csv"
    wrong = "2" * 64
    with pytest.raises(DataError) as excinfo:
        ensure_downloaded(f"{server.base}/good", target, wrong)
    message = str(excinfo.value)
    assert wrong in message and PAYLOAD_SHA in message and "by hand" in message
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("path", ["/truncated", "/missing"])
def test_failing_server_leaves_no_partial_file(tmp_path: Path, server: Server, path: str) -> None:
    target = tmp_path / "file.csv"
    with pytest.raises(DataError) as excinfo:
        ensure_downloaded(f"{server.base}{path}", target, PAYLOAD_SHA, timeout=10)
    message = str(excinfo.value)
    assert "failed" in message and "by hand" in message and str(target) in message
    assert server.requests == [path]
    assert_nothing_left(tmp_path)


def test_unreachable_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "*")
    # Port 9 (discard) on the loopback interface: nothing listens there in a test environment.
    with pytest.raises(DataError, match="by hand"):
        ensure_downloaded("http://127.0.0.1:9/file.csv", tmp_path / "file.csv", PAYLOAD_SHA, timeout=5)
    assert_nothing_left(tmp_path)


def test_file_url(tmp_path: Path) -> None:
    source = tmp_path / "offline" / "file.csv"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    target = tmp_path / "data" / "file.csv"
    assert ensure_downloaded(source.as_uri(), target, PAYLOAD_SHA) is True
    assert target.read_bytes() == PAYLOAD
