"""Tests for s5tse.train.distributed: sampler semantics, single-process identities, and real
2-process gloo runs on CPU (torchrun and srun-style launches)."""
import itertools
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from s5tse.train import distributed as D
from s5tse.train.distributed import (DistContext, DistributedSetupError, ShardedSampler, all_reduce_mean,
                                     barrier, broadcast_object, cleanup, first_host, init_distributed,
                                     per_rank_batch_size, rank_seed, unwrap_model, wrap_model)
from s5tse.train.launch import launcher_command


def epoch_batches(num_items, bs, world, *, epoch=0, start=0, **kw):
    """Per-rank batch lists of one epoch."""
    out = []
    for r in range(world):
        s = ShardedSampler(num_items, batch_size=bs, rank=r, world_size=world, **kw)
        s.set_epoch(epoch)
        s.set_start(start)
        out.append(list(s))
    return out


# ----------------------------------------------------------------------------- sampler
def test_sampler_deterministic_and_pure_function_of_seed_epoch():
    a = epoch_batches(40, 4, 1, seed=3, epoch=2)
    b = epoch_batches(40, 4, 1, seed=3, epoch=2)
    assert a == b
    # a fresh sampler jumping straight to epoch 2 equals one that went through 0 and 1
    s = ShardedSampler(40, batch_size=4, seed=3)
    for e in range(3):
        s.set_epoch(e)
        got = list(s)
    assert got == a[0]
    assert all(len(x) == 4 for x in got) and sorted(itertools.chain(*got)) == list(range(40))


def test_sampler_epochs_and_seeds_differ():
    e0 = epoch_batches(50, 5, 1, seed=1, epoch=0)[0]
    e1 = epoch_batches(50, 5, 1, seed=1, epoch=1)[0]
    other_seed = epoch_batches(50, 5, 1, seed=2, epoch=0)[0]
    assert e0 != e1
    assert e0 != other_seed
    assert sorted(itertools.chain(*e0)) == sorted(itertools.chain(*e1)) == list(range(50))


def test_sampler_order_independent_of_world_size_and_rank():
    ref = ShardedSampler(30, batch_size=3, seed=9).order(4)
    for world, rank in ((2, 1), (3, 2), (5, 0)):
        s = ShardedSampler(30, batch_size=1, rank=rank, world_size=world, seed=9)
        assert (s.order(4) == ref).all()


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("num_items", [24, 23, 25])
@pytest.mark.parametrize("drop_last", [True, False])
def test_global_batch_equals_single_process_batch(world, num_items, drop_last):
    bs = 2
    for epoch in (0, 1):
        ranks = epoch_batches(num_items, bs, world, seed=5, epoch=epoch, drop_last=drop_last)
        (single,) = epoch_batches(num_items, bs * world, 1, seed=5, epoch=epoch, drop_last=drop_last)
        # rank r's batch b is positions [r*bs, (r+1)*bs) of global batch b
        concatenated = [list(itertools.chain(*(rk[b] for rk in ranks if b < len(rk))))
                        for b in range(max(map(len, ranks)))]
        assert concatenated == single
        if drop_last:
            assert all(len(rk) == num_items // (bs * world) for rk in ranks)
            for b, batch in enumerate(single):
                for r in range(world):
                    assert ranks[r][b] == batch[r * bs:(r + 1) * bs]
        else:  # every item exactly once over all ranks
            assert sorted(itertools.chain(*itertools.chain(*ranks))) == list(range(num_items))
        for r in range(world):
            s = ShardedSampler(num_items, batch_size=bs, rank=r, world_size=world, seed=5,
                               drop_last=drop_last)
            assert len(s) == len(ranks[r])


def test_sampler_partial_last_batch_split():
    # 2 ranks x bs 4 = 8; 11 items -> one full global batch, then 3 items split 2 + 1
    ranks = epoch_batches(11, 4, 2, shuffle=False, drop_last=False)
    assert ranks[0] == [[0, 1, 2, 3], [8, 9]]
    assert ranks[1] == [[4, 5, 6, 7], [10]]
    # 9 items on 2 ranks: 1 left over -> rank 1 yields one batch fewer
    ranks = epoch_batches(9, 4, 2, shuffle=False, drop_last=False)
    assert ranks == [[[0, 1, 2, 3], [8]], [[4, 5, 6, 7]]]
    assert [len(ShardedSampler(9, batch_size=4, rank=r, world_size=2, shuffle=False, drop_last=False))
            for r in (0, 1)] == [2, 1]


def test_sampler_no_shuffle_and_drop_last():
    (b,) = epoch_batches(10, 3, 1, shuffle=False)
    assert b == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    (b,) = epoch_batches(10, 3, 1, shuffle=False, drop_last=False)
    assert b[-1] == [9]
    assert epoch_batches(3, 4, 1)[0] == []  # fewer items than one batch
    assert len(ShardedSampler(3, batch_size=4)) == 0


@pytest.mark.parametrize("world", [1, 2])
def test_set_start_skips_global_batches(world):
    full = epoch_batches(40, 2, world, seed=4, epoch=3)
    resumed = epoch_batches(40, 2, world, seed=4, epoch=3, start=7)
    for r in range(world):
        assert resumed[r] == full[r][7:]
    s = ShardedSampler(40, batch_size=2, rank=0, world_size=world, seed=4)
    s.set_epoch(3)
    s.set_start(7)
    assert len(s) == len(full[0]) - 7
    s.set_start(10_000)
    assert list(s) == [] and len(s) == 0
    # set_epoch resets the start
    s.set_start(5)
    s.set_epoch(4)
    assert s.start == 0 and len(list(s)) == len(full[0])


def test_sampler_set_start_with_partial_batch():
    s = ShardedSampler(11, batch_size=4, rank=0, world_size=2, shuffle=False, drop_last=False)
    s.set_start(1)
    assert list(s) == [[8, 9]] and len(s) == 1
    s.set_start(2)
    assert list(s) == [] and len(s) == 0


def test_sampler_works_as_dataloader_batch_sampler():
    data = torch.arange(12).float().unsqueeze(1)
    s = ShardedSampler(12, batch_size=3, rank=1, world_size=2, seed=0)
    s.set_epoch(1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data), batch_sampler=s)
    got = [b[0].squeeze(1).long().tolist() for b in loader]
    assert got == list(s)


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError):
        ShardedSampler(10, batch_size=0)
    with pytest.raises(ValueError):
        ShardedSampler(10, batch_size=2, rank=2, world_size=2)
    with pytest.raises(ValueError):
        ShardedSampler(10, batch_size=2, seed=-1)
    with pytest.raises(ValueError):
        ShardedSampler(10, batch_size=2).set_start(-1)


def test_per_rank_batch_size():
    assert per_rank_batch_size(8, 1) == 8
    assert per_rank_batch_size(8, 4) == 2
    with pytest.raises(ValueError, match="not divisible"):
        per_rank_batch_size(6, 4)
    with pytest.raises(ValueError):
        per_rank_batch_size(0, 1)


def test_rank_seed():
    assert rank_seed(1234, 0) == 1234
    seeds = [rank_seed(1234, r) for r in range(8)]
    assert len(set(seeds)) == 8
    assert seeds == [rank_seed(1234, r) for r in range(8)]
    assert all(0 <= s < 2 ** 31 for s in seeds)
    assert rank_seed(1, 1) != rank_seed(2, 0)  # no seed + rank aliasing
    with pytest.raises(ValueError):
        rank_seed(-1, 0)


# ----------------------------------------------------------------------------- single process
def test_context_properties():
    ctx = DistContext()
    assert ctx.is_main and not ctx.enabled and ctx.device == torch.device("cpu")
    assert DistContext(rank=1, world_size=2).enabled and not DistContext(rank=1, world_size=2).is_main


def test_init_distributed_single_process():
    ctx = init_distributed(0, env={})
    assert (ctx.rank, ctx.local_rank, ctx.world_size, ctx.device.type) == (0, 0, 1, "cpu")
    # torchrun with a single process is a single process too
    ctx = init_distributed(0, env={"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1"})
    assert not ctx.enabled


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_init_distributed_gpu_without_cuda_is_an_error():
    with pytest.raises(DistributedSetupError, match="CUDA is not available"):
        init_distributed(1, env={})


def test_init_distributed_rejects_negative_ngpu():
    with pytest.raises(DistributedSetupError):
        init_distributed(-1, env={})


def test_collectives_are_identities_in_one_process():
    ctx = DistContext()
    t = torch.tensor([1.0, 2.0])
    assert all_reduce_mean(t, ctx) is t
    assert all_reduce_mean(2.5, ctx) == 2.5
    obj = {"a": [1, 2]}
    assert broadcast_object(obj, ctx) is obj
    barrier(ctx)
    cleanup(ctx)
    model = nn.Linear(2, 2)
    assert wrap_model(model, ctx) is model
    assert unwrap_model(model) is model
    assert unwrap_model(nn.DataParallel(model)) is model


# ----------------------------------------------------------------------------- launch detection
def test_detect_torchrun_env():
    env = {"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4", "MASTER_ADDR": "h", "MASTER_PORT": "1"}
    got = D._detect_launch(env)
    assert got["launcher"] == "torchrun" and (got["rank"], got["local_rank"], got["world_size"]) == (3, 1, 4)
    assert got["master_addr"] is None  # env://
    with pytest.raises(DistributedSetupError, match="MASTER_PORT"):
        D._detect_launch({k: v for k, v in env.items() if k != "MASTER_PORT"})
    with pytest.raises(DistributedSetupError, match="not an integer"):
        D._detect_launch({**env, "RANK": "x"})


def test_detect_slurm_env(monkeypatch):
    monkeypatch.setattr(D.shutil, "which", lambda name: None)  # no scontrol: built-in parser
    env = {"SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NTASKS": "8", "SLURM_STEP_NUM_TASKS": "6",
           "SLURM_STEP_ID": "0", "SLURM_JOB_NODELIST": "gpu[07-09]", "SLURM_JOB_ID": "123456"}
    got = D._detect_launch(env)
    assert got["launcher"] == "slurm"
    assert (got["rank"], got["local_rank"], got["world_size"]) == (5, 1, 6)  # the step's task count
    assert got["master_addr"] == "gpu07" and got["master_port"] == 29500 + 3456
    got = D._detect_launch({**env, "MASTER_ADDR": "x", "MASTER_PORT": "1234"})
    assert (got["master_addr"], got["master_port"]) == ("x", 1234)
    # torchrun's variables win over Slurm's
    assert D._detect_launch({**env, "RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "a",
                             "MASTER_PORT": "2"})["launcher"] == "torchrun"
    # the batch script itself (no job step) and single-task steps are single processes
    assert D._detect_launch({k: v for k, v in env.items() if k != "SLURM_STEP_ID"}) is None
    assert D._detect_launch({**env, "SLURM_STEP_ID": "4294967291"}) is None
    assert D._detect_launch({**env, "SLURM_STEP_NUM_TASKS": "1"}) is None
    no_step_tasks = {k: v for k, v in env.items() if k != "SLURM_STEP_NUM_TASKS"}
    assert D._detect_launch(no_step_tasks)["world_size"] == 8
    assert D._detect_launch({}) is None


@pytest.mark.parametrize("nodelist, host", [
    ("node1", "node1"), ("gpu[03-05,09],cpu1", "gpu03"), ("a,b[1-2]", "a"), ("gpu[009-012]", "gpu009"),
    ("rack[2-3]-n[01-04]", "rack2-n01"), ("n[5,1]", "n5"), ("x-y.z[10]", "x-y.z10"),
])
def test_first_host_parser(monkeypatch, nodelist, host):
    monkeypatch.setattr(D.shutil, "which", lambda name: None)
    assert first_host(nodelist) == host


def test_first_host_uses_scontrol(tmp_path, monkeypatch):
    fake = tmp_path / "scontrol"
    fake.write_text("#!/bin/sh\necho real-first\necho real-second\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert first_host("whatever[1-2]") == "real-first"


# ----------------------------------------------------------------------------- real 2-process runs
# A tiny self-contained training script: items are a pure function of (index); conv + linear
# model; SGD with momentum; mean MSE loss; 2 epochs of the ShardedSampler with the GLOBAL
# batch size divided over the ranks. Rank 0 saves the final weights; every rank writes the
# results of the collectives.
DDP_WORKER = textwrap.dedent('''
    import json, sys
    import torch
    from torch import nn
    from s5tse.train.distributed import (ShardedSampler, all_reduce_mean, barrier, broadcast_object, cleanup,
                                         init_distributed, per_rank_batch_size, rank_seed, unwrap_model,
                                         wrap_model)

    out_dir, global_bs = sys.argv[1], int(sys.argv[2])
    ctx = init_distributed(0)
    torch.manual_seed(0)                      # same initial weights on every rank
    model = nn.Sequential(nn.Conv1d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6, 1))
    torch.manual_seed(rank_seed(0, ctx.rank))
    model = wrap_model(model, ctx)
    opt = torch.optim.SGD(unwrap_model(model).parameters(), lr=0.05, momentum=0.9)

    def item(i):                              # pure function of the index
        g = torch.Generator().manual_seed(1000 + i)
        x = torch.randn(2, 8, generator=g)
        return x, x.sum().reshape(1) * 0.1

    sampler = ShardedSampler(16, batch_size=per_rank_batch_size(global_bs, ctx.world_size), rank=ctx.rank,
                             world_size=ctx.world_size, seed=7)
    seen, losses = [], []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for idx in sampler:
            seen.append(idx)
            x = torch.stack([item(i)[0] for i in idx])
            y = torch.stack([item(i)[1] for i in idx])
            loss = nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(all_reduce_mean(loss.item(), ctx))
    stats = dict(rank=ctx.rank, world_size=ctx.world_size, seen=seen, losses=losses,
                 mean_rank=all_reduce_mean(float(ctx.rank), ctx),
                 mean_tensor=all_reduce_mean(torch.tensor([ctx.rank, 10.0 * ctx.rank]), ctx).tolist(),
                 mean_int=all_reduce_mean(torch.tensor([ctx.rank * 3]), ctx).tolist(),
                 obj=broadcast_object({"from": ctx.rank}, ctx))
    barrier(ctx)
    if ctx.is_main:
        torch.save(unwrap_model(model).state_dict(), f"{out_dir}/final.pth")
    with open(f"{out_dir}/rank{ctx.rank}.json", "w") as f:
        json.dump(stats, f)
    cleanup(ctx)
''')


@pytest.fixture
def worker(tmp_path):
    path = tmp_path / "ddp_worker.py"
    path.write_text(DDP_WORKER)
    return path


def _env():
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")  # stacks on a crash
    for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return env


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_processes_match_one_process(tmp_path, worker):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    env = _env()
    # world size 1, global batch 4 (no launcher) and world size 2, per-rank batch 2 (torchrun, gloo)
    p1 = subprocess.Popen([sys.executable, str(worker), str(one), "4"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    prefix = launcher_command(2, 1, "local")
    p2 = subprocess.run([*prefix, sys.executable, str(worker), str(two), "4"], env=env,
                        capture_output=True, text=True, timeout=90)
    out1 = p1.communicate(timeout=90)[0]
    assert p1.returncode == 0, out1
    assert p2.returncode == 0, p2.stdout + p2.stderr

    ref = torch.load(one / "final.pth")
    got = torch.load(two / "final.pth")
    assert ref.keys() == got.keys()
    for k in ref:
        assert torch.allclose(ref[k], got[k], rtol=0, atol=1e-6), (k, (ref[k] - got[k]).abs().max())
    s1 = json.loads((one / "rank0.json").read_text())
    r0, r1 = (json.loads((two / f"rank{r}.json").read_text()) for r in (0, 1))
    assert s1["world_size"] == 1 and r0["world_size"] == r1["world_size"] == 2
    assert len(s1["seen"]) == len(r0["seen"]) == len(r1["seen"]) == 8  # 2 epochs x 16 / 4
    # the ranks' batches concatenated are the single-process batches
    assert [a + b for a, b in zip(r0["seen"], r1["seen"])] == s1["seen"]
    assert r0["losses"] == pytest.approx(r1["losses"])  # averaged over ranks: same on both
    assert r0["losses"] == pytest.approx(s1["losses"], abs=1e-6)
    for r in (r0, r1):
        assert r["mean_rank"] == 0.5
        assert r["mean_tensor"] == [0.5, 5.0]
        assert r["mean_int"] == [1.5]
        assert r["obj"] == {"from": 0}
    assert s1["mean_rank"] == 0.0 and s1["obj"] == {"from": 0}


SLURM_WORKER = textwrap.dedent('''
    import json, sys
    import torch
    from s5tse.train.distributed import all_reduce_mean, broadcast_object, cleanup, init_distributed
    ctx = init_distributed(0)
    out = dict(rank=ctx.rank, local_rank=ctx.local_rank, world=ctx.world_size, backend=ctx.backend,
               mean=all_reduce_mean(torch.tensor([float(ctx.rank)]), ctx).tolist(),
               obj=broadcast_object("r%d" % ctx.rank, ctx, src=1))
    json.dump(out, open(sys.argv[1] + "/rank%d.json" % ctx.rank, "w"))
    cleanup(ctx)
''')


@pytest.mark.slow
def test_srun_style_launch_two_processes(tmp_path):
    """Two tasks of an srun step (SLURM_* variables only, no torchrun) form one gloo group."""
    script = tmp_path / "w.py"
    script.write_text(SLURM_WORKER)
    port = _free_port()
    procs = []
    for rank in (0, 1):
        env = _env()
        env.update(SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank), SLURM_NTASKS="2",
                   SLURM_STEP_NUM_TASKS="2", SLURM_STEP_ID="0", SLURM_JOB_ID="77",
                   SLURM_JOB_NODELIST="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for p in procs:
        out = p.communicate(timeout=60)[0]
        assert p.returncode == 0, out
    for rank in (0, 1):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert got == dict(rank=rank, local_rank=rank, world=2, backend="gloo", mean=[0.5], obj="r1")


@pytest.mark.slow
def test_toy_trainer_torchrun_two_processes_match_one_process(tmp_path, repo_root):
    """The real trainer (``s5tse.bin.train --task toy``): torchrun with 2 gloo processes and
    one process, same GLOBAL batch size, give the same final weights."""
    if not (repo_root / "s5tse" / "bin" / "train.py").exists():
        pytest.skip("s5tse.bin.train is not there yet")
    args = ["-m", "s5tse.bin.train", "--task", "toy", "--max_epochs", "2", "--iters_per_epoch", "6",
            "--batch_size", "8", "--num_workers", "0", "--ngpu", "0"]
    env = _env()
    one = subprocess.Popen([sys.executable, *args, "--output_dir", str(tmp_path / "one")], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    two = subprocess.run([*launcher_command(2, 1, "local"), sys.executable, *args,
                          "--output_dir", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True, timeout=120)
    out = one.communicate(timeout=120)[0]
    assert one.returncode == 0, out
    assert two.returncode == 0, two.stdout + two.stderr
    assert "world size 2" in (tmp_path / "two" / "train.log").read_text()
    for name in ("1epoch.pth", "2epoch.pth"):
        ref = torch.load(tmp_path / "one" / name)
        got = torch.load(tmp_path / "two" / name)
        assert ref.keys() == got.keys() and ref
        for k in ref:
            diff = (ref[k].double() - got[k].double()).abs().max().item()
            assert diff <= 1e-6, (name, k, diff)
