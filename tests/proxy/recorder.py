"""An executor that records the commands a backend runs instead of running them, or runs
them inside a network namespace the test made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kybernetes.proxy import execute
from kybernetes.proxy.execute import Completed


@dataclass
class Recorder:
    calls: list[tuple[list[str], str | None]] = field(default_factory=list)
    stdout: dict[str, str] = field(default_factory=dict)  # argv[0] -> what it prints

    async def __call__(self, argv: Sequence[str], input: str | None = None) -> Completed:
        self.calls.append((list(argv), input))
        return Completed(0, self.stdout.get(argv[0], ""), "")

    def inputs(self, program: str) -> list[str]:
        return [text or "" for argv, text in self.calls if argv[0] == program]


@dataclass
class InNamespace:
    name: str

    async def __call__(self, argv: Sequence[str], input: str | None = None) -> Completed:
        return await execute.run(["ip", "netns", "exec", self.name, *argv], input)
