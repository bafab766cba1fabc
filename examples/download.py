"""Save a checkpoint, then download and unpack it through the REST client.

`tinkex.download.download_checkpoint` asks the service for the checkpoint's signed file URLs,
streams each one to disk (resumable, digest-checked) and unpacks archives; the result is a
plain PEFT adapter directory that `peft`/`transformers` can load without tinkex.
"""

from __future__ import annotations

from pathlib import Path

from _common import fact_batch, parse_args, service_client

import tinkex as tinker
from tinkex.download import download_checkpoint

OUTPUT_DIR = Path("tinkex-download")
"""Where the adapter lands, relative to the current directory (replaced on every run)."""


def main() -> None:
    args = parse_args(__doc__, steps=1, learning_rate=4e-3)
    with service_client(args) as service:
        training = service.create_lora_training_client(base_model=args.model, rank=16).result()
        batch = fact_batch(training.get_tokenizer())
        for step in range(args.steps):
            forward_backward = training.forward_backward(batch, "cross_entropy")
            optim = training.optim_step(tinker.AdamParams(learning_rate=args.learning_rate))
            forward_backward.result()
            optim.result()
            print(f"step {step}: trained")
        path = training.save_state("to-download").result().path
        print("saved state:", path)
        rest = service.create_rest_client()
        result = download_checkpoint(rest, path, OUTPUT_DIR, force=True)
        print(f"downloaded {result.size_bytes} bytes to {result.destination}:")
        for name in result.files:
            print("  ", name)


if __name__ == "__main__":
    main()
