"""blur2blur.hub against a loopback HTTP server: download, cache, checksums, offline errors."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from typing import ClassVar

import pytest

from blur2blur import hub

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB: more than one read chunk
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self):
        type(self).hits.append(self.path)
        if self.path != "/weights.pth":
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BLUR2BLUR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("BLUR2BLUR_OFFLINE", raising=False)
    for var in ("NO_PROXY", "no_proxy"):  # a proxy set in the environment must not see loopback traffic
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    _Handler.hits.clear()
    return tmp_path / "cache"


def _entry(url: str, sha256: str | None = SHA, filename: str = "weights.pth") -> hub.WeightFile:
    return hub.WeightFile(name="test", url=url, sha256=sha256, filename=filename)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_cache_dir_precedence(monkeypatch, tmp_path):
    assert hub.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("BLUR2BLUR_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.cache_dir() == tmp_path / "xdg" / "blur2blur"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert hub.cache_dir() == tmp_path / "home" / ".cache" / "blur2blur"


def test_download_then_cached(server, cache):
    entry = _entry(f"{server}/weights.pth")
    path = hub.fetch(entry, progress=False)
    assert path == cache / "weights.pth" and path.read_bytes() == PAYLOAD
    assert _Handler.hits == ["/weights.pth"]
    assert hub.fetch(entry, progress=False) == path
    assert _Handler.hits == ["/weights.pth"]  # the second call did not touch the server
    assert _leftovers(cache) == ["weights.pth"]


def test_prefix_checksum(server, cache):
    path = hub.fetch(_entry(f"{server}/weights.pth", SHA[:8]), progress=False)
    assert path == cache / "weights.pth" and hub.sha256_file(path) == SHA


def test_wrong_checksum_leaves_nothing(server, cache):
    bad = "0" * 64
    with pytest.raises(hub.ChecksumError) as err:
        hub.fetch(_entry(f"{server}/weights.pth", bad), progress=False)
    assert SHA in str(err.value) and bad in str(err.value)
    assert _leftovers(cache) == []  # neither the target nor a partial file


def test_cached_file_with_wrong_content(server, cache):
    cache.mkdir(parents=True)
    (cache / "weights.pth").write_bytes(b"not the weights")
    with pytest.raises(hub.ChecksumError, match="Delete it"):
        hub.fetch(_entry(f"{server}/weights.pth"), progress=False)
    assert _Handler.hits == []


def test_server_down_names_url_and_path(cache):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/weights.pth"
    with pytest.raises(hub.OfflineError) as err:
        hub.fetch(_entry(url), progress=False)
    msg = str(err.value)
    assert "offline?" in msg.lower() and url in msg and str(cache / "weights.pth") in msg
    assert _leftovers(cache) == []


def test_http_error(server, cache):
    with pytest.raises(hub.DownloadError, match="404"):
        hub.fetch(_entry(f"{server}/nope.pth"), progress=False)
    assert _leftovers(cache) == []


def test_offline_env_and_flag(server, cache, monkeypatch):
    entry = _entry(f"{server}/weights.pth")
    with pytest.raises(hub.OfflineError, match="BLUR2BLUR_OFFLINE") as err:
        monkeypatch.setenv("BLUR2BLUR_OFFLINE", "1")
        hub.fetch(entry, progress=False)
    assert str(cache / "weights.pth") in str(err.value)
    monkeypatch.delenv("BLUR2BLUR_OFFLINE")
    with pytest.raises(hub.OfflineError, match="downloads are disabled"):
        hub.fetch(entry, allow_download=False, progress=False)
    assert _Handler.hits == []
    # A file placed by hand is used offline.
    cache.mkdir(parents=True)
    (cache / "weights.pth").write_bytes(PAYLOAD)
    monkeypatch.setenv("BLUR2BLUR_OFFLINE", "1")
    assert hub.fetch(entry, progress=False) == cache / "weights.pth"


def test_torch_hub_cache_is_reused(tmp_path, monkeypatch, cache):
    foreign = tmp_path / "torch" / "hub" / "checkpoints"
    foreign.mkdir(parents=True)
    (foreign / "weights.pth").write_bytes(PAYLOAD)
    monkeypatch.setenv("BLUR2BLUR_OFFLINE", "1")
    assert hub.fetch(_entry("http://127.0.0.1:9/weights.pth"), progress=False) == foreign / "weights.pth"


def test_unverified_download_warns(server, cache, caplog):
    with caplog.at_level("WARNING", logger="blur2blur.hub"):
        path = hub.fetch(_entry(f"{server}/weights.pth", sha256=None), progress=False)
    assert path.read_bytes() == PAYLOAD and SHA in caplog.text


def test_registry():
    assert {"vgg19", "vgg16", "nafnet_gopro_width32", "kernel_wizard_gopro_wovae"} <= set(hub.REGISTRY)
    vgg19 = hub.get_entry("vgg19")
    assert vgg19.url == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert vgg19.sha256.startswith("dcbb9e9d") and vgg19.filename == "vgg19-dcbb9e9d.pth"
    assert hub.get_entry("vgg16").sha256.startswith("397923af")
    with pytest.raises(KeyError, match="known: "):
        hub.get_entry("nope")
    with pytest.raises(ValueError, match="hex"):
        hub.WeightFile(name="x", url="http://x/y", sha256="xyz", filename="y")


def test_a_file_published_on_a_page_is_never_downloaded(server, cache):
    entry = hub.WeightFile(name="test", url=f"{server}/weights.pth", sha256=None, filename="weights.pth",
                           source="a test page", direct=False)
    with pytest.raises(hub.DownloadError) as err:
        hub.fetch(entry, progress=False)
    msg = str(err.value)
    assert str(cache / "weights.pth") in msg and entry.url in msg and "a test page" in msg
    assert _Handler.hits == []
