"""Flow F: off-policy top-k distillation with 2-D (N, K) cross-entropy targets.

A context-distillation setup: the teacher is the base model *told* the fact in a system
message; the student (a LoRA on the same model) sees only the question. For every answer
token the teacher's top-k next-token distribution (`topk_prompt_logprobs`) becomes a soft
target: `target_tokens` and `weights` of shape (N, K), trained with `cross_entropy`.
"""

from __future__ import annotations

import numpy as np
from _common import FACT, FACT_QUESTIONS, ask, parse_args, service_client

import tinkex as tinker
from tinkex.datasets import render_conversation
from tinkex.tokenizer import Tokenizer

TOP_K = 8


def answer_positions(weights: list[float]) -> list[int]:
    """Indices of the answer's tokens (the trained ones) in a rendered conversation."""
    return [index for index, weight in enumerate(weights) if weight > 0]


def distillation_datum(
    teacher: tinker.SamplingClient, tokenizer: Tokenizer, question: str
) -> tinker.Datum:
    """The student's view of one exchange, with the teacher's top-k as soft targets."""
    exchange = [{"role": "user", "content": question}, {"role": "assistant", "content": FACT}]
    briefing = {"role": "system", "content": f"You know this fact: {FACT}"}
    teacher_tokens, teacher_weights = render_conversation(tokenizer, [briefing, *exchange])
    student_tokens, student_weights = render_conversation(tokenizer, exchange)
    reply = teacher.sample(
        tinker.ModelInput.from_ints(teacher_tokens),
        num_samples=1,
        sampling_params=tinker.SamplingParams(max_tokens=1),
        include_prompt_logprobs=True,
        topk_prompt_logprobs=TOP_K,
    ).result()
    rows = reply.topk_prompt_logprobs or []
    targets = np.zeros((len(student_tokens) - 1, TOP_K), dtype=np.int64)
    weights = np.zeros((len(student_tokens) - 1, TOP_K), dtype=np.float32)
    pairs = zip(answer_positions(teacher_weights), answer_positions(student_weights), strict=True)
    for teacher_index, student_index in pairs:
        ids, logprobs = zip(*(rows[teacher_index] or []), strict=True)
        probs = np.exp(np.asarray(logprobs, dtype=np.float32))
        # Row i of the student's data predicts token i + 1.
        targets[student_index - 1, : len(ids)] = ids
        weights[student_index - 1, : len(ids)] = probs / probs.sum()
    return tinker.Datum(
        model_input=tinker.ModelInput.from_ints(student_tokens[:-1]),
        loss_fn_inputs={
            "target_tokens": tinker.TensorData.from_numpy(targets),
            "weights": tinker.TensorData.from_numpy(weights),
        },
    )


def main() -> None:
    args = parse_args(__doc__, steps=8, learning_rate=5e-3)
    with service_client(args) as service:
        teacher = service.create_sampling_client(base_model=args.model).result()
        student = service.create_lora_training_client(base_model=args.model, rank=16).result()
        tokenizer = student.get_tokenizer()
        batch = [distillation_datum(teacher, tokenizer, q) for q in FACT_QUESTIONS]
        answer_tokens = sum(
            int(d.loss_fn_inputs["weights"].to_numpy().any(-1).sum()) for d in batch
        )
        adam = tinker.AdamParams(learning_rate=args.learning_rate)
        for step in range(args.steps):
            forward_backward = student.forward_backward(batch, "cross_entropy")
            optim = student.optim_step(adam)
            loss = forward_backward.result().metrics["loss:sum"] / answer_tokens
            optim.result()
            print(f"step {step}: distillation loss {loss:.4f} (soft targets, top-{TOP_K})")
        sampler = student.save_weights_and_get_sampling_client().result()
        print(f"Q: {FACT_QUESTIONS[0]}\nA: {ask(sampler, tokenizer, FACT_QUESTIONS[0])}")


if __name__ == "__main__":
    main()
