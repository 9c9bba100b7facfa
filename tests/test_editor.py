"""The JSON Schema in a real editor: the YAML language server (the npm package
``yaml-language-server``, which VS Code's YAML extension runs) over stdio.

``make venv`` installs the server into ``.venv/node`` when npm is there; the
test is skipped, saying why, on a machine without node.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelspec.spec.jsonschema import spec_json_schema

from .conftest import ROOT, SPECS

SERVER = ROOT / ".venv" / "node" / "node_modules" / "yaml-language-server" / "bin"
SERVER = SERVER / "yaml-language-server"


def server_command() -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the YAML language server runs on node")
    if SERVER.is_file():
        return [node, str(SERVER), "--stdio"]
    installed = shutil.which("yaml-language-server")
    if installed is None:
        pytest.fail(
            "node is here but yaml-language-server is not: `make venv` installs it into "
            ".venv/node (npm install --prefix .venv/node yaml-language-server)"
        )
    return [installed, "--stdio"]


class LanguageServer:
    """A minimal LSP client: JSON-RPC messages with Content-Length headers over stdio."""

    def __init__(self, command: list[str], settings: dict[str, Any]) -> None:
        self.settings = settings
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.ids = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            headers = {}
            while line := out.readline().decode().strip():
                key, _, value = line.partition(":")
                headers[key.lower()] = value.strip()
            if "content-length" not in headers:
                return  # the server exited
            self.inbox.put(json.loads(out.read(int(headers["content-length"]))))

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        self.proc.stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self.ids += 1
        ident = self.ids
        self.send({"id": ident, "method": method, "params": params})
        return self.receive(lambda m: m.get("id") == ident and "method" not in m)["result"]

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"method": method, "params": params})

    def receive(self, wanted: Callable[[dict[str, Any]], bool], timeout: float = 60) -> Any:
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            try:
                message = self.inbox.get(timeout=left)
            except queue.Empty:
                break
            if "method" in message and "id" in message:  # the server asks the editor
                items = message.get("params", {}).get("items", [])
                result = (
                    [self.settings.get(i.get("section")) for i in items]
                    if message["method"] == "workspace/configuration"
                    else None
                )
                self.send({"id": message["id"], "result": result})
            elif wanted(message):
                return message
        raise TimeoutError("the language server did not answer")

    def diagnostics(self, uri: str, text: str) -> list[dict[str, Any]]:
        """Open a document; the diagnostics the server publishes for it."""
        document = {"uri": uri, "languageId": "yaml", "version": 1, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": document})
        published = self.receive(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
            )
        )
        return list(published["params"]["diagnostics"])

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LanguageServer, Path]]:
    command = server_command()
    folder = tmp_path_factory.mktemp("editor")
    schema = folder / "modelspec.schema.json"
    schema.write_text(json.dumps(spec_json_schema()), encoding="utf-8")
    settings = {
        "yaml": {"validate": True, "completion": True, "schemas": {schema.as_uri(): "*.yaml"}}
    }
    client = LanguageServer(command, settings)
    client.request(
        "initialize", {"processId": None, "rootUri": folder.as_uri(), "capabilities": {}}
    )
    client.notify("initialized", {})
    client.notify("workspace/didChangeConfiguration", {"settings": settings})
    yield client, folder
    client.close()


def test_every_spec_opens_without_a_diagnostic(server: tuple[LanguageServer, Path]) -> None:
    client, folder = server
    found = {
        path.name: client.diagnostics((folder / path.name).as_uri(), path.read_text("utf-8"))
        for path in SPECS
    }
    assert {name: d for name, d in found.items() if d} == {}


def test_a_misspelt_argument_is_flagged_at_its_line(server: tuple[LanguageServer, Path]) -> None:
    client, folder = server
    text = (ROOT / "specs" / "antirectifier_digits.yaml").read_text("utf-8")
    bad = text.replace("units: 256,", "units: 256, activaton: relu,", 1)
    line = next(i for i, row in enumerate(bad.splitlines()) if "activaton" in row)
    found = client.diagnostics((folder / "bad.yaml").as_uri(), bad)
    assert [(d["range"]["start"]["line"], d["message"]) for d in found] == [
        (line, "Property activaton is not allowed.")
    ]


def test_layer_types_complete_after_type(server: tuple[LanguageServer, Path]) -> None:
    client, folder = server
    text = (
        "modelspec: 1\nname: x\ninputs: [{name: a, shape: [2]}]\nlayers:\n  - name: d\n    type: \n"
    )
    uri = (folder / "complete.yaml").as_uri()
    client.diagnostics(uri, text)
    position = {"line": 5, "character": len("    type: ")}
    result = client.request(
        "textDocument/completion", {"textDocument": {"uri": uri}, "position": position}
    )
    labels = {item["label"] for item in (result["items"] if isinstance(result, dict) else result)}
    assert {"Dense", "Conv2D", "Antirectifier", "Sampling"} <= labels
