from __future__ import annotations

import io
import json

from bot.observe.logs import event, register_secret, setup_logging


def test_json_lines_one_object_per_event() -> None:
    stream = io.StringIO()
    setup_logging("json", "INFO", stream=stream)
    event("skipped", user="0xabc", reason="unprofitable", profit_wei=-5)
    event("sent", tx_hash=b"\x01\x02")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "skipped"
    assert lines[0]["reason"] == "unprofitable"
    assert lines[0]["profit_wei"] == -5
    assert lines[1]["tx_hash"] == "0x0102"


def test_registered_secrets_are_scrubbed() -> None:
    stream = io.StringIO()
    setup_logging("json", "INFO", stream=stream)
    secret = "0x" + "5e" * 32
    register_secret(secret)
    event("oops", detail=f"key was {secret}", bare=secret[2:])
    out = stream.getvalue()
    assert secret not in out and secret[2:] not in out
    assert "<redacted>" in out


def test_plain_log_lines_with_format_arguments_survive_scrubbing() -> None:
    import logging

    stream = io.StringIO()
    setup_logging("json", "INFO", stream=stream)
    logging.getLogger("liqbot.test").info("nonce %d at %s", 7, "0xabc")
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == "nonce 7 at 0xabc"
