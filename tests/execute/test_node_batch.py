"""``Node.batch`` pairs each answer with its request by id, whatever order a node answers
in (JSON-RPC allows any), and refuses answers that pair with no request; a transport or
HTTP failure is ``NodeUnavailable`` without the URL's secrets. The node here is a small
HTTP server answering batches as a node may."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from web3 import Web3

from bot.execute.node import BatchMismatch, Node, NodeUnavailable

Answer = Callable[[list[dict[str, Any]]], tuple[int, Any]]


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, reply = answer(body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v2/SECRETKEY"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _echo(request: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request["id"], "result": request["params"][0]}


def _node(url: str) -> Node:
    return Node(Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 5})))


def test_answers_in_any_order_are_paired_by_id(serve: Callable[[Answer], str]) -> None:
    node = _node(serve(lambda body: (200, [_echo(r) for r in reversed(body)])))
    calls = [("eth_echo", [f"0x{k:x}"]) for k in range(5)]
    answers = node.batch(calls)
    assert answers is not None
    assert [a["result"] for a in answers] == [f"0x{k:x}" for k in range(5)]
    node.close()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda body: [{**_echo(r), "id": r["id"] + 1000} for r in body],  # foreign ids
        lambda body: [_echo(body[0]), _echo(body[0])],  # one answered twice, one not
        lambda body: [{k: v for k, v in _echo(r).items() if k != "id"} for r in body],
    ],
)
def test_answers_that_pair_with_no_request_are_refused(
    serve: Callable[[Answer], str], mangle: Callable[[list[dict[str, Any]]], Any]
) -> None:
    node = _node(serve(lambda body: (200, mangle(body))))
    with pytest.raises(BatchMismatch):
        node.batch([("eth_echo", ["0x1"]), ("eth_echo", ["0x2"])])
    assert node.receipts(["0x" + "00" * 32, "0x" + "11" * 32]) is None  # one by one instead


def test_an_http_error_is_node_unavailable_without_the_urls_key(
    serve: Callable[[Answer], str],
) -> None:
    node = _node(serve(lambda body: (429, {"error": "rate limited"})))
    with pytest.raises(NodeUnavailable) as caught:
        node.batch([("eth_chainId", [])])
    assert "SECRETKEY" not in str(caught.value) and "429" in str(caught.value)
