"""A custom loss composed from a base loss and regularizers (`tinkex.regularizers`).

The base loss is the mean negative log-likelihood of the answer tokens; `compose` adds an
entropy penalty and an L1 penalty on the logprobs with their weights and reports every
term. It trains through `forward_backward_custom`, so the service only sees cross-entropy.
"""

from __future__ import annotations

import torch
from _common import fact_batch, parse_args, service_client

import tinkex as tinker
from tinkex.regularizers import L1, Entropy, compose


def answer_nll(
    data: list[tinker.Datum], logprobs: list[torch.Tensor]
) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean negative log-likelihood of the tokens whose weight is 1 (the answers)."""
    weights = [datum.loss_fn_inputs["weights"].to_torch() for datum in data]
    nll = torch.stack([(-lp * w).sum() for lp, w in zip(logprobs, weights, strict=True)])
    return nll.sum() / sum(float(w.sum()) for w in weights), {}


def main() -> None:
    args = parse_args(__doc__, steps=3, learning_rate=4e-3)
    loss_fn = compose(answer_nll, [(Entropy(), 0.01), (L1(reduction="mean"), 0.001)])
    with service_client(args) as service:
        training = service.create_lora_training_client(base_model=args.model, rank=16).result()
        batch = fact_batch(training.get_tokenizer())
        adam = tinker.AdamParams(learning_rate=args.learning_rate)
        for step in range(args.steps):
            result = training.forward_backward_custom(batch, loss_fn).result()
            training.optim_step(adam).result()
            m = result.metrics
            print(
                f"step {step}: total loss {m['loss_total:sum']:.4f} = nll {m['base_loss:sum']:.4f}"
                f" + regularizers {m['regularizer_total:sum']:.4f}"
            )


if __name__ == "__main__":
    main()
