"""DistributedDataParallel: a model built from our modules, trained on two
CPU processes (gloo, over loopback only), ends with the parameters that
single-process training on the same data gives."""

from __future__ import annotations

import datetime
import multiprocessing
import os
import sys

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from activations_ext import nn as ann

WORLD_SIZE = 2
PER_RANK = 8
STEPS = 4
TIMEOUT_S = 120

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(),
    reason="torch.distributed with gloo is not available",
)


def _model() -> nn.Module:
    # float64, so that the order in which DDP sums gradients across ranks
    # changes nothing visible.
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 16),
        ann.PReLU(16, init=0.2),
        nn.Linear(16, 16),
        ann.ELU(alpha=0.8),
        nn.Linear(16, 16),
        ann.LeakyReLU(0.1),
        nn.Linear(16, 16),
        ann.ReLU(inplace=True),
        nn.Linear(16, 1),
        ann.Sigmoid(),
    ).double()


def _batches():
    gen = torch.Generator().manual_seed(1)
    return [
        (
            torch.randn(WORLD_SIZE * PER_RANK, 6, generator=gen, dtype=torch.float64),
            torch.rand(WORLD_SIZE * PER_RANK, 1, generator=gen, dtype=torch.float64),
        )
        for _ in range(STEPS)
    ]


def _train(model: nn.Module, batches) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    for x, y in batches:
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def _worker(rank: int, port: int, out_dir: str) -> None:
    # gloo's own connections stay on the loopback interface too.
    os.environ["GLOO_SOCKET_IFNAME"] = "lo0" if sys.platform == "darwin" else "lo"
    store = dist.TCPStore("127.0.0.1", port, WORLD_SIZE + 1, is_master=False)
    dist.init_process_group(
        "gloo", store=store, rank=rank, world_size=WORLD_SIZE, timeout=datetime.timedelta(seconds=60)
    )
    try:
        model = DistributedDataParallel(_model())
        shard = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
        _train(model, [(x[shard], y[shard]) for x, y in _batches()])
        torch.save(model.module.state_dict(), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_on_two_processes_matches_single_process_training(tmp_path):
    # The parent holds the store on a port the OS picks (no race for a free
    # port); both workers connect to it over 127.0.0.1.
    store = dist.TCPStore("127.0.0.1", 0, WORLD_SIZE + 1, is_master=True, wait_for_workers=False)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(rank, store.port, str(tmp_path))) for rank in range(WORLD_SIZE)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(TIMEOUT_S)
    hung = [p for p in procs if p.is_alive()]
    for p in hung:
        p.kill()
        p.join()
    assert not hung, f"DDP workers did not finish within {TIMEOUT_S} s"
    assert [p.exitcode for p in procs] == [0] * WORLD_SIZE, "a DDP worker failed (its error is printed above)"

    single = _model()
    start = {k: v.clone() for k, v in single.state_dict().items()}
    _train(single, _batches())
    expected = single.state_dict()

    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD_SIZE)]
    for k in expected:
        assert torch.equal(ranks[0][k], ranks[1][k]), f"{k}: the replicas diverged"
        assert not torch.equal(expected[k], start[k]), f"{k}: training did not change it"
        torch.testing.assert_close(ranks[0][k], expected[k], rtol=1e-10, atol=1e-12, msg=k)


# ------------------------------------------------- FSDP2 of a converted model


def _converted_llama() -> nn.Module:
    import transformers

    import activations_ext

    cfg = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    torch.manual_seed(0)
    model, summary = activations_ext.convert(transformers.LlamaForCausalLM(cfg).double())
    assert summary.counts() == {"LlamaMLP": 2, "SiLUActivation": 2}
    return model


def _lm_batches():
    gen = torch.Generator().manual_seed(2)
    return [torch.randint(0, 64, (WORLD_SIZE * 2, 6), generator=gen) for _ in range(STEPS)]


def _train_lm(model: nn.Module, batches) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for ids in batches:
        opt.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()


def _fsdp_worker(rank: int, port: int, out_dir: str) -> None:
    os.environ["GLOO_SOCKET_IFNAME"] = "lo0" if sys.platform == "darwin" else "lo"
    store = dist.TCPStore("127.0.0.1", port, WORLD_SIZE + 1, is_master=False)
    dist.init_process_group(
        "gloo", store=store, rank=rank, world_size=WORLD_SIZE, timeout=datetime.timedelta(seconds=60)
    )
    try:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh("cpu", (WORLD_SIZE,))
        model = _converted_llama()
        for layer in model.model.layers:
            fully_shard(layer, mesh=mesh)
        fully_shard(model, mesh=mesh)
        _train_lm(model, [ids[rank * 2 : (rank + 1) * 2] for ids in _lm_batches()])
        full = {k: v.full_tensor() for k, v in model.state_dict().items()}
        torch.save(full, os.path.join(out_dir, f"fsdp{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_fsdp2_of_a_converted_model_matches_single_process_training(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("torch.distributed.fsdp")
    if not hasattr(torch.distributed.fsdp, "fully_shard"):
        pytest.skip("this torch has no FSDP2 (torch.distributed.fsdp.fully_shard)")
    store = dist.TCPStore("127.0.0.1", 0, WORLD_SIZE + 1, is_master=True, wait_for_workers=False)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_fsdp_worker, args=(rank, store.port, str(tmp_path))) for rank in range(WORLD_SIZE)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(TIMEOUT_S)
    hung = [p for p in procs if p.is_alive()]
    for p in hung:
        p.kill()
        p.join()
    assert not hung, f"FSDP workers did not finish within {TIMEOUT_S} s"
    assert [p.exitcode for p in procs] == [0] * WORLD_SIZE, (
        "an FSDP worker failed (its error is printed above)"
    )

    single = _converted_llama()
    start = {k: v.clone() for k, v in single.state_dict().items()}
    _train_lm(single, _lm_batches())
    expected = single.state_dict()
    ranks = [torch.load(tmp_path / f"fsdp{r}.pt", weights_only=True) for r in range(WORLD_SIZE)]
    assert ranks[0].keys() == expected.keys()
    for k in expected:
        torch.testing.assert_close(ranks[0][k], ranks[1][k], rtol=0, atol=0, msg=k)
        torch.testing.assert_close(ranks[0][k], expected[k], rtol=1e-9, atol=1e-11, msg=k)
    moved = [k for k in expected if not torch.equal(expected[k], start[k])]
    assert any("mlp" in k for k in moved)
