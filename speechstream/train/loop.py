"""The ASR training loop: hybrid CTC + RNN-T (``ASRModel.loss``), one attention context per batch,
VTLP and SpecAugment, AdamW with warmup, gradient clipping, DDP, atomic time-based checkpoints and exact resume.

Exact resume: everything random in a step (VTLP, SpecAugment, the attention context, dropout) is seeded from
(seed, step, rank), and the data order from (seed, epoch) plus the number of batches consumed, so a run
killed at any point and restarted from its last checkpoint repeats the same updates.
"""

from __future__ import annotations

import csv
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from lhotse import CutSet
from torch import Tensor, nn

from speechstream.asr.tokenizer import Tokenizer
from speechstream.asr.torch.model import ASRModel

from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .data import AsrBatch, AsrDataset, SamplerConfig, epoch_batches, make_loader
from .specaugment import SpecAugmentConfig, spec_augment
from .vtlp import VtlpConfig, vtlp

TRAIN_FIELDS = ["step", "epoch", "loss", "ctc", "rnnt", "lr", "att_context", "grad_norm", "batch_audio_s",
                "utts", "step_s", "audio_h_per_h"]
DEV_FIELDS = ["step", "epoch", "att_context", "loss", "ctc", "rnnt", "wer", "utts"]


@dataclass(frozen=True)
class LRSchedule:
    """Linear warmup to peak_lr, then inverse-square-root ("noam") or cosine decay to min_lr."""

    peak_lr: float = 2e-3
    warmup_steps: int = 500
    kind: str = "noam"  # "noam" needs no total; "cosine" decays over total_steps
    total_steps: int = 0
    min_lr: float = 1e-5

    def lr(self, step: int) -> float:
        """Learning rate of update number `step` (1-based)."""
        s = max(step, 1)
        if s <= self.warmup_steps:
            return self.peak_lr * s / self.warmup_steps
        if self.kind == "cosine" and self.total_steps > self.warmup_steps:
            p = min(1.0, (s - self.warmup_steps) / (self.total_steps - self.warmup_steps))
            return self.min_lr + 0.5 * (self.peak_lr - self.min_lr) * (1 + math.cos(math.pi * p))
        return max(self.min_lr, self.peak_lr * math.sqrt(self.warmup_steps / s))


@dataclass(frozen=True)
class TrainConfig:
    num_epochs: int = 10
    schedule: LRSchedule = field(default_factory=LRSchedule)
    weight_decay: float = 1e-3
    grad_clip: float = 5.0
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    vtlp: VtlpConfig = field(default_factory=VtlpConfig)  # off unless max_warp > 0 (80-bin default Fbank)
    ckpt_minutes: float = 10.0
    keep_last: int = 3
    dev_every_steps: int = 500  # 0: only at epoch ends
    bf16: bool = False  # autocast; measure first, on CPU it may be slower
    seed: int = 0
    num_workers: int = 0
    max_steps: int = 0  # stop (with a checkpoint) once this many updates are done; 0: no limit
    max_cpu_minutes: float = 0.0  # stop once updates have used this much process CPU time; 0: no limit
    progress: bool = True


class LossModule(nn.Module):
    """DDP only synchronises gradients of work done in forward(): route ASRModel.loss through it."""

    def __init__(self, model: ASRModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, feats: Tensor, feat_lens: Tensor, targets: Tensor, target_lens: Tensor,
                att_context: int) -> dict[str, Tensor]:
        return self.model.loss(feats, feat_lens, targets, target_lens, att_context)


@dataclass
class Dist:
    world_size: int = 1
    rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Dist:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK: nccl on GPUs, gloo on CPU. Plain python: one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(world, rank, device)


def _step_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step) * 1_009 + rank


def greedy_ctc(log_probs: Tensor, lens: Tensor, blank: int) -> list[list[int]]:
    """log_probs (B, T', V), lens (B,) -> token ids per utterance (repeats merged, blanks dropped)."""
    best = log_probs.argmax(-1).cpu()
    out = []
    for b in range(best.size(0)):
        ids = torch.unique_consecutive(best[b, : int(lens[b])]).tolist()
        out.append([i for i in ids if i != blank])
    return out


@torch.no_grad()
def evaluate(model: ASRModel, batches: list[AsrBatch], tokenizer: Tokenizer, device: torch.device,
             att_context: int) -> dict[str, float]:
    """Dev losses and greedy CTC WER (jiwer) at one attention context, without dropout or SpecAugment."""
    import jiwer

    was_training = model.training
    model.eval()
    tot = {"loss": 0.0, "ctc": 0.0, "rnnt": 0.0}
    refs: list[str] = []
    hyps: list[str] = []
    n = 0
    for batch in batches:
        b = batch.to(device)
        losses = model.loss(b.feats, b.feat_lens, b.targets, b.target_lens, att_context)
        k = b.feats.size(0)
        for name, key in (("loss", "total"), ("ctc", "ctc"), ("rnnt", "rnnt")):
            tot[name] += float(losses[key]) * k
        enc, enc_lens = model(b.feats, b.feat_lens, att_context)
        for ids in greedy_ctc(model.ctc(enc), enc_lens, model.blank_id):
            hyps.append(tokenizer.decode(ids))
        refs.extend(batch.texts)
        n += k
    model.train(was_training)
    # jiwer rejects empty references; synthetic corpora have none, user corpora might
    pairs = [(r, h) for r, h in zip(refs, hyps) if r]
    wer = jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]) if pairs else float("nan")
    return {**{k: v / max(n, 1) for k, v in tot.items()}, "wer": wer, "utts": n}


def _truncate_csv(path: Path, max_step: int) -> None:
    """Drops rows logged after the checkpoint we resume from (they will be logged again)."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
        fields = rows[0].keys() if rows else None
    if fields is None:
        return
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fields))
        w.writeheader()
        w.writerows(r for r in rows if int(r["step"]) <= max_step)
    os.replace(tmp, path)


class _CsvLog:
    def __init__(self, path: Path, fields: list[str]) -> None:
        new = not path.is_file() or path.stat().st_size == 0
        self.f = open(path, "a", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=fields)
        if new:
            self.w.writeheader()

    def write(self, row: dict[str, Any]) -> None:
        self.w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        self.f.flush()


class Trainer:
    """Trains `model` on `train_cuts` (with stored features) into `exp_dir`; resumes from its latest checkpoint."""

    def __init__(self, model: ASRModel, tokenizer: Tokenizer, exp_dir: str | Path, config: TrainConfig,
                 dist_info: Dist | None = None, extra_state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.dist = dist_info or Dist()
        self.exp = Path(exp_dir)
        self.ckpt_dir = self.exp / "checkpoints"
        self.tokenizer = tokenizer
        self.model = model.to(self.dist.device)
        self.extra_state = extra_state or {}
        net: nn.Module = LossModule(self.model)
        if self.dist.world_size > 1:
            net = nn.parallel.DistributedDataParallel(  # CTC alone leaves the RNN-T heads without gradients
                net, device_ids=[self.dist.device.index] if self.dist.device.type == "cuda" else None,
                find_unused_parameters=model.config.ctc_weight >= 1.0)
        self.net = net
        # No weight decay on norms and biases (the usual AdamW practice).
        decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=config.schedule.lr(1), betas=(0.9, 0.98), eps=1e-9)
        self.state: dict[str, Any] = {"step": 0, "epoch": 0, "batches_done": 0, "audio_seconds": 0.0,
                                      "train_seconds": 0.0, "cpu_seconds": 0.0}
        ckpt = latest_checkpoint(self.ckpt_dir)
        self.resumed_from = ckpt
        if ckpt is not None:
            saved = load_checkpoint(ckpt, self.model, self.optimizer)
            self._check_compatible(saved)
            self.state.update({k: saved[k] for k in self.state if k in saved})
        if self.dist.is_main:
            self.exp.mkdir(parents=True, exist_ok=True)
            for name in ("train.csv", "dev.csv"):
                _truncate_csv(self.exp / name, self.state["step"])

    def _check_compatible(self, saved: dict[str, Any]) -> None:
        # The number of batches to skip only means the same thing with the same sampler set-up.
        was = saved.get("sampler", {})
        now = {"max_duration": self.config.sampler.max_duration, "world_size": self.dist.world_size,
               "seed": self.config.sampler.seed}
        for k, v in now.items():
            if k in was and was[k] != v and saved.get("batches_done", 0) > 0:
                print(f"warning: sampler {k} was {was[k]}, now {v}: this epoch's data order differs from "
                      f"the interrupted one (some cuts may be seen twice or not at all)", flush=True)

    # ---- checkpoints ----
    def save(self, name: str) -> None:
        if self.dist.is_main:
            train_state = {**self.state, **self.extra_state,
                           "model_config": self.model.config.to_dict(),
                           "train_config": asdict(self.config),
                           "sampler": {"max_duration": self.config.sampler.max_duration,
                                       "world_size": self.dist.world_size, "seed": self.config.sampler.seed}}
            save_checkpoint(self.ckpt_dir, name, self.model, self.optimizer, train_state,
                            keep_last=self.config.keep_last)
        if self.dist.world_size > 1:
            dist.barrier()

    def _rank0_says(self, flag: bool) -> bool:
        """Rank 0's decision on every rank: clocks differ, and a save on some ranks only would hang DDP."""
        if self.dist.world_size == 1:
            return flag
        t = torch.tensor([1 if flag else 0], device=self.dist.device)
        dist.broadcast(t, src=0)
        return bool(t.item())

    # ---- one update ----
    def train_step(self, batch: AsrBatch) -> dict[str, float]:
        cfg = self.config
        step = self.state["step"] + 1
        lr = cfg.schedule.lr(step)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        contexts = self.model.config.encoder.att_contexts
        # Same context on every rank (seeded without the rank); masks and dropout differ per rank.
        ctx = int(torch.randint(len(contexts), (1,), generator=torch.Generator().manual_seed(
            _step_seed(cfg.seed, step, 0))))
        gen = torch.Generator().manual_seed(_step_seed(cfg.seed, step, self.dist.rank + 1))
        torch.manual_seed(_step_seed(cfg.seed, step, self.dist.rank + 1))
        feats = batch.feats
        if cfg.vtlp.enabled:
            feats = vtlp(feats, cfg.vtlp, gen)
        if cfg.spec_augment.enabled:
            feats = spec_augment(feats, batch.feat_lens, cfg.spec_augment, gen,
                                 self.model.config.encoder.frame_shift_ms / 1000)
        b = AsrBatch(feats, batch.feat_lens, batch.targets, batch.target_lens, batch.texts, batch.duration)
        b = b.to(self.dist.device)
        dev_type = self.dist.device.type
        with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=cfg.bf16):
            losses = self.net(b.feats, b.feat_lens, b.targets, b.target_lens, ctx)
        losses["total"].backward()
        grad_norm = float(nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip))
        if math.isfinite(grad_norm):
            self.optimizer.step()
        # else: skip the update on every rank alike (the norm is of all-reduced gradients)
        self.optimizer.zero_grad(set_to_none=True)
        stats = torch.tensor([float(losses["total"].detach()), float(losses["ctc"].detach()),
                              float(losses["rnnt"].detach()),
                              batch.duration, float(batch.feats.size(0))], dtype=torch.float64)
        if self.dist.world_size > 1:
            stats = stats.to(self.dist.device)
            dist.all_reduce(stats)
            stats = stats.cpu()
            stats[:3] /= self.dist.world_size
        self.state["step"] = step
        return {"loss": float(stats[0]), "ctc": float(stats[1]), "rnnt": float(stats[2]), "lr": lr,
                "att_context": "%d,%d" % contexts[ctx], "grad_norm": grad_norm,
                "batch_audio_s": float(stats[3]), "utts": int(stats[4])}

    # ---- the loop ----
    def fit(self, train_cuts: CutSet, dev_cuts: CutSet | None = None) -> dict[str, Any]:
        cfg = self.config
        dev_batches = self._dev_batches(dev_cuts) if (dev_cuts is not None and self.dist.is_main) else []
        log = _CsvLog(self.exp / "train.csv", TRAIN_FIELDS) if self.dist.is_main else None
        dev_log = _CsvLog(self.exp / "dev.csv", DEV_FIELDS) if self.dist.is_main else None
        total_audio = sum(c.duration for c in train_cuts)
        est_batches = max(1, int(total_audio / cfg.sampler.max_duration / self.dist.world_size))
        last_ckpt = time.monotonic()
        session_audio, session_start = 0.0, time.monotonic()
        self.net.train()
        while self.state["epoch"] < cfg.num_epochs:
            epoch = self.state["epoch"]
            batches = epoch_batches(train_cuts, cfg.sampler, epoch, skip=self.state["batches_done"],
                                    world_size=self.dist.world_size, rank=self.dist.rank)
            loader = make_loader(batches, self.tokenizer, cfg.num_workers, self.model.config.encoder.pad_feature)
            bar = None
            if cfg.progress and self.dist.is_main:
                from tqdm import tqdm

                bar = tqdm(total=est_batches, initial=self.state["batches_done"], desc=f"epoch {epoch}",
                           dynamic_ncols=True, mininterval=5.0)
            t0, c0 = time.monotonic(), time.process_time()
            for batch in loader:
                row = self.train_step(batch)
                t1 = time.monotonic()
                # CPU time of the update and its data (a fixed compute budget; not shared-machine wall time)
                self.state["cpu_seconds"] += time.process_time() - c0
                self.state["batches_done"] += 1
                self.state["audio_seconds"] += row["batch_audio_s"]
                self.state["train_seconds"] += t1 - t0
                session_audio += row["batch_audio_s"]
                rate = session_audio / max(t1 - session_start, 1e-9)  # audio-hours per wall-hour
                row.update(step=self.state["step"], epoch=epoch, step_s=t1 - t0, audio_h_per_h=rate)
                if log is not None:
                    log.write({k: row[k] for k in TRAIN_FIELDS})
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(step=row["step"], loss=f"{row['loss']:.3g}", ctx=row["att_context"],
                                    lr=f"{row['lr']:.2e}", audio_h_per_h=f"{rate:.1f}", refresh=False)
                done = (bool(cfg.max_steps) and self.state["step"] >= cfg.max_steps) or self._rank0_says(
                    bool(cfg.max_cpu_minutes) and self.state["cpu_seconds"] >= cfg.max_cpu_minutes * 60)
                if cfg.dev_every_steps and (done or self.state["step"] % cfg.dev_every_steps == 0):
                    self._dev(dev_batches, dev_log, epoch)
                if done or self._rank0_says(t1 - last_ckpt >= cfg.ckpt_minutes * 60):
                    self.save(f"step-{self.state['step']}")
                    last_ckpt = time.monotonic()
                if done:
                    if bar is not None:
                        bar.close()
                    return self.state
                t0, c0 = time.monotonic(), time.process_time()
            if bar is not None:
                bar.close()
            self.state["epoch"] += 1
            self.state["batches_done"] = 0
            if not cfg.dev_every_steps:
                self._dev(dev_batches, dev_log, epoch)
            self.save(f"epoch-{epoch + 1}")
            last_ckpt = time.monotonic()
        return self.state

    def _dev_batches(self, cuts: CutSet) -> list[AsrBatch]:
        ds = AsrDataset(self.tokenizer, self.model.config.encoder.pad_feature)
        cuts = cuts.sort_by_duration()
        out, cur, dur = [], [], 0.0
        for c in cuts:
            if cur and dur + c.duration > self.config.sampler.max_duration:
                out.append(ds[CutSet.from_cuts(cur)])
                cur, dur = [], 0.0
            cur.append(c)
            dur += c.duration
        if cur:
            out.append(ds[CutSet.from_cuts(cur)])
        return out

    def _dev(self, batches: list[AsrBatch], log: _CsvLog | None, epoch: int) -> None:
        if self.dist.is_main and batches:
            contexts = self.model.config.encoder.att_contexts
            for i, ctx in enumerate(contexts):
                with torch.autocast(self.dist.device.type, dtype=torch.bfloat16, enabled=self.config.bf16):
                    r = evaluate(self.model, batches, self.tokenizer, self.dist.device, i)
                row = {"step": self.state["step"], "epoch": epoch, "att_context": "%d,%d" % ctx, **r}
                if log is not None:
                    log.write(row)
                print(f"\ndev step {row['step']} ctx {row['att_context']}: loss {r['loss']:.3f} "
                      f"ctc {r['ctc']:.3f} rnnt {r['rnnt']:.3f} greedy-CTC WER {r['wer']:.2%}", flush=True)
        if self.dist.world_size > 1:
            dist.barrier()
