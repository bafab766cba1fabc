"""Flow E: preference learning with DPO through `forward_backward_custom`.

The reference model is the initial weights, frozen with `save_weights_and_get_sampling_client`;
its logprobs come from `compute_logprobs`. The DPO loss is plain torch, evaluated in the SDK
on the policy's logprobs; the service only ever sees a weighted cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from _common import chat_datum, parse_args, service_client

import tinkex as tinker

BETA = 0.1
PAIRS = (  # (question, chosen answer, rejected answer)
    ("How should I greet a colleague?", "Good morning! How are you today?", "What do you want?"),
    ("Can you help me with my essay?", "Of course, happy to help.", "No. Do it yourself."),
)


def answer_logprob(logprobs: torch.Tensor, datum: tinker.Datum) -> torch.Tensor:
    """Sum of the logprobs of the answer's tokens (where the datum's weight is 1)."""
    return (logprobs * datum.loss_fn_inputs["weights"].to_torch()).sum()


def reference_logprobs(sampler: tinker.SamplingClient, datum: tinker.Datum) -> torch.Tensor:
    """The reference model's logprob of each target token of `datum`."""
    last_target = int(datum.loss_fn_inputs["target_tokens"].to_numpy()[-1])
    sequence = datum.model_input.append_int(last_target)
    logprobs = sampler.compute_logprobs(sequence).result()[1:]  # element 0 is None
    return torch.tensor([0.0 if lp is None else lp for lp in logprobs])


def main() -> None:
    args = parse_args(__doc__, steps=3, learning_rate=1e-3)
    with service_client(args) as service:
        training = service.create_lora_training_client(base_model=args.model, rank=16).result()
        tokenizer = training.get_tokenizer()
        data = [  # chosen, rejected, chosen, rejected, ...
            chat_datum(tokenizer, question, answer)
            for question, chosen, rejected in PAIRS
            for answer in (chosen, rejected)
        ]
        reference = training.save_weights_and_get_sampling_client().result()
        ref = torch.stack([answer_logprob(reference_logprobs(reference, d), d) for d in data])

        def dpo_loss(
            batch: list[tinker.Datum], logprobs: list[torch.Tensor]
        ) -> tuple[torch.Tensor, dict[str, float]]:
            policy = torch.stack(
                [answer_logprob(lp, d) for lp, d in zip(logprobs, batch, strict=True)]
            )
            ratios = policy - ref
            margins = BETA * (ratios[0::2] - ratios[1::2])
            loss = -F.logsigmoid(margins).mean()
            accuracy = (margins > 0).float().mean()
            return loss, {"dpo_loss": loss.item(), "accuracy": accuracy.item()}

        adam = tinker.AdamParams(learning_rate=args.learning_rate)
        for step in range(args.steps):
            result = training.forward_backward_custom(data, dpo_loss).result()
            training.optim_step(adam).result()
            loss, accuracy = result.metrics["dpo_loss"], result.metrics["accuracy"]
            print(f"step {step}: dpo loss {loss:.4f}, preference accuracy {accuracy:.2f}")


if __name__ == "__main__":
    main()
