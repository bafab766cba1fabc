"""A training step through the server equals, bit for bit, the same step done directly with
transformers + peft + torch on CPU: the adapter's weights are downloaded before and after
`optim_step`, and the direct step starts from the downloaded initial adapter."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import peft
import torch
from safetensors.torch import load_file
from server_testkit import TINY
from transformers import AutoModelForCausalLM

import tinkex
from tinkex.local.engine import resolve_model_dir
from tinkex.local.server import LocalServer

TEXTS = ["The owl reads a book.", "A bear eats the honey.", "The cat naps in sun."]
ADAM = {"learning_rate": 3e-3, "beta1": 0.8, "beta2": 0.9, "eps": 1e-8, "weight_decay": 0.01}


def _download(rest: tinkex.RestClient, tinker_path: str, target: Path) -> Path:
    target.mkdir()
    for name, url in rest.get_external_weights_urls(tinker_path).result().urls.items():
        (target / name).write_bytes(httpx.get(url, timeout=30).raise_for_status().content)
    return target


def test_server_step_equals_a_plain_peft_step(open_server: LocalServer, tmp_path: Path) -> None:
    service = tinkex.ServiceClient(base_url=open_server.base_url, api_key="tml-bits")
    rest = tinkex.RestClient(base_url=open_server.base_url, api_key="tml-bits")
    training = service.create_lora_training_client(base_model=TINY, rank=4, seed=11).result()
    tokenizer = training.get_tokenizer()
    rows = [list(tokenizer.encode(text)) for text in TEXTS]
    width = min(len(row) for row in rows)  # equal lengths: no padding on either side
    rows = [row[:width] for row in rows]
    data = [
        tinkex.types.Datum(
            model_input=tinkex.types.ModelInput.from_ints(row[:-1]),
            loss_fn_inputs={"target_tokens": np.asarray(row[1:], dtype=np.int64)},
        )
        for row in rows
    ]
    initial = training.save_weights_for_sampler("bits-before").result().path
    training.forward_backward(data, "cross_entropy").result()
    training.optim_step(tinkex.types.AdamParams(**ADAM)).result()
    trained = training.save_weights_for_sampler("bits-after").result().path
    before = _download(rest, initial, tmp_path / "before")
    after = load_file(_download(rest, trained, tmp_path / "after") / "adapter_model.safetensors")
    service.close("success")

    base = AutoModelForCausalLM.from_pretrained(resolve_model_dir(TINY), dtype=torch.float32)
    model = peft.PeftModel.from_pretrained(base, str(before), is_trainable=True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params,
        lr=ADAM["learning_rate"],
        betas=(ADAM["beta1"], ADAM["beta2"]),
        eps=ADAM["eps"],
        weight_decay=ADAM["weight_decay"],
        foreach=False,
    )
    ids = torch.tensor([row[:-1] for row in rows])
    targets = torch.tensor([row[1:] for row in rows])
    logprobs = torch.log_softmax(model(input_ids=ids).logits.float(), dim=-1)
    torch.autograd.backward(-logprobs.gather(-1, targets[..., None]).sum())
    optimizer.step()

    direct = peft.get_peft_model_state_dict(model, save_embedding_layers=False)
    assert sorted(direct) == sorted(after)
    for name, value in direct.items():
        assert torch.equal(value, after[name]), name
    assert any(
        not torch.equal(value, initial_value)
        for value, initial_value in zip(
            direct.values(),
            load_file(before / "adapter_model.safetensors").values(),
            strict=False,
        )
    )
