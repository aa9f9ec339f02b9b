"""The rebalance listener of the worker's group consumers (stage one's, stage two's).

aiokafka only logs what a rebalance callback raises; a stage that missed an assignment would
go on with a state that is not its partitions'. So the listener keeps the error on its owner,
whose loop raises it and crashes the worker, loudly.
"""

from __future__ import annotations

from typing import Protocol

from aiokafka import ConsumerRebalanceListener, TopicPartition


class Rebalanced(Protocol):
    _listener_error: BaseException | None

    async def on_assigned(self, assigned: set[TopicPartition]) -> None: ...

    async def on_revoked(self, revoked: set[TopicPartition]) -> None: ...


class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: Rebalanced) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        try:
            await self.owner.on_revoked(revoked)
        except Exception as exc:  # noqa: BLE001 - handed to the owner's loop, which crashes the worker
            self.owner._listener_error = exc

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        try:
            await self.owner.on_assigned(assigned)
        except Exception as exc:  # noqa: BLE001 - handed to the owner's loop, which crashes the worker
            self.owner._listener_error = exc
