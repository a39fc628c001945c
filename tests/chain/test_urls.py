from __future__ import annotations

import pytest

from bot.chain.urls import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("https://eth-sepolia.example.org/v2/SECRETKEY123", "https://eth-sepolia.example.org/…"),
        ("wss://node.example.org/ws?apikey=SECRETKEY123", "wss://node.example.org/…"),
        ("https://user:SECRETKEY123@node.example.org", "https://node.example.org/…"),
        ("not a url", "<unparseable URL>"),
    ],
)
def test_redact_url_hides_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "SECRETKEY123" not in redact_url(url)
