"""Flow D: save the full training state, then resume from it with the optimizer state.

Trains `--steps` steps, saves with `save_state`, looks the run up through the REST client,
then `create_training_client_from_state_with_optimizer` picks up where it stopped (weights
and Adam moments) and trains `--steps` more. Warm starts with a fresh optimizer use
`create_training_client_from_state` instead.
"""

from __future__ import annotations

from _common import FACT_QUESTIONS, ask, fact_batch, parse_args, service_client, trained_tokens

import tinkex as tinker


def train(training: tinker.TrainingClient, steps: range, learning_rate: float) -> None:
    batch = fact_batch(training.get_tokenizer())
    adam = tinker.AdamParams(learning_rate=learning_rate)
    for step in steps:
        forward_backward = training.forward_backward(batch, "cross_entropy")
        optim = training.optim_step(adam)
        loss = forward_backward.result().metrics["loss:sum"] / trained_tokens(batch)
        optim.result()
        print(f"step {step}: loss {loss:.4f}")


def main() -> None:
    args = parse_args(__doc__, steps=2, learning_rate=5e-3)
    with service_client(args) as service:
        first = service.create_lora_training_client(base_model=args.model, rank=16).result()
        train(first, range(args.steps), args.learning_rate)
        state_path = first.save_state(f"step-{args.steps}").result().path
        print("saved state:", state_path)

        run = service.create_rest_client().get_training_run_by_tinker_path(state_path).result()
        print(f"run {run.training_run_id}: {run.base_model}, LoRA rank {run.lora_rank}")

        resumed = service.create_training_client_from_state_with_optimizer(state_path).result()
        print("resumed from", state_path)
        train(resumed, range(args.steps, 2 * args.steps), args.learning_rate)
        sampler = resumed.save_weights_and_get_sampling_client().result()
        tokenizer = resumed.get_tokenizer()
        print(f"Q: {FACT_QUESTIONS[1]}\nA: {ask(sampler, tokenizer, FACT_QUESTIONS[1])}")


if __name__ == "__main__":
    main()
