"""The model's gas table: calibrated from measured receipts, then learnt from the bot's own.

``bot/data/gas_calibration.json`` is written by ``scripts/calibrate_gas.py`` (every path on
every pair of the bundled market, on anvil). A running bot adds each of its receipts; an
out-of-gas receipt counts as needing half as much again, so the next attempt bids for
enough gas instead of failing the same way.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from bot.model.gas import GasSample, GasTable
from bot.model.types import ExecutionPath

MARGIN_BPS = 1_500


def calibration_samples(path: Path | None = None) -> list[GasSample]:
    text = (
        path.read_text()
        if path is not None
        else (resources.files("bot") / "data" / "gas_calibration.json").read_text()
    )
    data = json.loads(text)["samples"]
    return [
        GasSample(ExecutionPath(name), int(used))
        for name, values in data.items()
        for used in values
    ]


class LearningGasTable:
    """A :class:`GasTable` that grows with every receipt the bot sees."""

    def __init__(self, samples: list[GasSample], margin_bps: int = MARGIN_BPS) -> None:
        self.samples = list(samples)
        self.margin_bps = margin_bps
        self.table = GasTable.from_samples(self.samples, margin_bps=margin_bps)

    @classmethod
    def calibrated(cls, path: Path | None = None) -> LearningGasTable:
        return cls(calibration_samples(path))

    def observe(self, path: ExecutionPath, gas_used: int, out_of_gas: bool = False) -> None:
        used = gas_used * 3 // 2 if out_of_gas else gas_used
        if used > self.table.gas_for(path) * 10_000 // (10_000 + self.margin_bps):
            self.samples.append(GasSample(path, used))
            self.table = GasTable.from_samples(self.samples, margin_bps=self.margin_bps)
