"""Flow C: a pipelined async trainer (the cookbook's `supervised/train.py` timing pattern).

Awaiting `forward_backward_async` / `optim_step_async` only submits the work and returns a
future; step k+1 is submitted before step k's result is awaited, so the server always has
the next step queued and never waits for the client between steps.
"""

from __future__ import annotations

import asyncio
import time
from argparse import Namespace

from _common import fact_batch, parse_args, service_client, trained_tokens

import tinkex as tinker


class StepResults:
    """The futures of one submitted step, and how to report them once they resolve."""

    def __init__(
        self,
        step: int,
        forward_backward: tinker.APIFuture[tinker.ForwardBackwardOutput],
        optim: tinker.APIFuture[tinker.OptimStepResponse],
    ) -> None:
        self.step, self.forward_backward, self.optim = step, forward_backward, optim

    async def report(self, trained_tokens: float, started: float) -> None:
        output = await self.forward_backward.result_async()
        await self.optim.result_async()
        loss = output.metrics["loss:sum"] / trained_tokens
        print(f"step {self.step}: loss {loss:.4f} ({time.perf_counter() - started:.1f} s)")


async def train(service: tinker.ServiceClient, args: Namespace) -> None:
    training = await service.create_lora_training_client_async(base_model=args.model, rank=16)
    batch = fact_batch(training.get_tokenizer())
    weight = trained_tokens(batch)
    adam = tinker.AdamParams(learning_rate=args.learning_rate)
    started = time.perf_counter()
    previous: StepResults | None = None
    for step in range(args.steps):
        forward_backward = await training.forward_backward_async(batch, "cross_entropy")
        optim = await training.optim_step_async(adam)
        if previous is not None:  # step k is read only once step k+1 is queued
            await previous.report(weight, started)
        previous = StepResults(step, forward_backward, optim)
    if previous is not None:
        await previous.report(weight, started)


def main() -> None:
    args = parse_args(__doc__, steps=4, learning_rate=5e-3)
    with service_client(args) as service:
        asyncio.run(train(service, args))


if __name__ == "__main__":
    main()
