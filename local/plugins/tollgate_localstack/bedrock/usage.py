"""What the Bedrock emulator served: one record per successful model call, the emulator's own
bill. The Cost Explorer emulator (costexplorer.py) prices these records and groups them by the
tags of the application inference profile a call went through, as AWS billing does."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime


@dataclasses.dataclass(frozen=True)
class Served:
    at: datetime  # UTC
    account: str
    region: str
    model_id: str  # the foundation model that ran (prices are per model)
    profile_arn: str | None  # the application inference profile the call named, if any
    input_tokens: int
    output_tokens: int
    tags: tuple[tuple[str, str], ...] = ()  # the profile's tags when the call was served
    principal: str = ""  # the caller's IAM principal (an assumed-role session ARN for a Lambda)
    principal_tags: tuple[tuple[str, str], ...] = ()  # the caller role's (or user's) tags


class UsageLedger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[Served] = []
        self.version = 0  # bumped on every record: the CUR export emulation re-delivers on change

    def add(self, record: Served) -> None:
        with self._lock:
            self._records.append(record)
            self.version += 1

    def of(self, account: str) -> list[Served]:
        with self._lock:
            return [r for r in self._records if r.account == account]


USAGE = UsageLedger()
