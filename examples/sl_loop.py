"""Flow A: a minimal supervised fine-tuning loop (the cookbook's `sl_loop.py`, made tiny).

Teaches the model a made-up fact from a few conversations: forward_backward with
cross_entropy, then optim_step, every step; then saves the state and asks the question.
"""

from __future__ import annotations

from _common import FACT_QUESTIONS, ask, fact_batch, parse_args, service_client, trained_tokens

import tinkex as tinker


def main() -> None:
    args = parse_args(__doc__, steps=4, learning_rate=5e-3)
    with service_client(args) as service:
        training = service.create_lora_training_client(base_model=args.model, rank=16).result()
        tokenizer = training.get_tokenizer()
        batch = fact_batch(tokenizer)
        adam = tinker.AdamParams(learning_rate=args.learning_rate, beta1=0.9, beta2=0.95)
        for step in range(args.steps):
            forward_backward = training.forward_backward(batch, loss_fn="cross_entropy")
            optim = training.optim_step(adam)
            loss = forward_backward.result().metrics["loss:sum"] / trained_tokens(batch)
            optim.result()
            print(f"step {step}: loss {loss:.4f}")
        print("saved state:", training.save_state("sl-final").result().path)
        sampler = training.save_weights_and_get_sampling_client(name="sl-final-sampler").result()
        print(f"Q: {FACT_QUESTIONS[0]}\nA: {ask(sampler, tokenizer, FACT_QUESTIONS[0])}")


if __name__ == "__main__":
    main()
