"""The resumable training run that the flow-matching recipes share (recipes/tts/kokoro_en, recipes/vc/kokoro_en).

A recipe brings its model, its batches, its loss and its dev metrics; this module brings the rest, the same for
every such recipe: the learning-rate schedule, the length-sorted batch draw, a fresh / resumed / --init-from
start, the EXP/train.csv and EXP/dev.csv logs (truncated to the checkpoint on resume), atomic checkpoints
(speechstream.train.checkpoint), the update loop, and the common part of exporting the newest checkpoint. Every
random draw of step n comes from one generator seeded with (seed, n), so a resumed run continues exactly as an
uninterrupted one.

The recipe's arguments must carry: exp, init_from, seed, num_threads, lr, warmup_steps, max_steps, stop_after,
weight_decay, grad_clip, batch_size, max_frames, log_every, dev_every, save_every, save_minutes, keep_last.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

import numpy as np
import torch

from speechstream.train.checkpoint import (latest_checkpoint, load_checkpoint, load_model_weights, load_train_state,
                                          save_checkpoint)


def lr_at(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up, then cosine decay to 10 % at max_steps."""
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    frac = (step - args.warmup_steps) / max(1, args.max_steps - args.warmup_steps)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def draw_batch(order: np.ndarray, lengths: np.ndarray, batch_size: int, max_frames: int,
               g: torch.Generator) -> list[int]:
    """A random window of length-sorted neighbours: <= batch_size items and <= max_frames padded frames."""
    start = int(torch.randint(len(order), (1,), generator=g))
    picked: list[int] = []
    longest = 0
    for i in order[start:start + batch_size]:
        longest = max(longest, int(lengths[i]))
        if picked and longest * (len(picked) + 1) > max_frames:
            break
        picked.append(int(i))
    if len(picked) < batch_size and start > 0:  # at the end of the order: fill from just before the window
        for i in order[max(0, start - (batch_size - len(picked))):start][::-1]:
            if max(longest, int(lengths[i])) * (len(picked) + 1) > max_frames:
                break
            longest = max(longest, int(lengths[i]))
            picked.append(int(i))
    return picked


def truncate_log(path: Path, step: int) -> None:
    """Keeps the header and the rows of steps <= step (a resumed run rewrites the ones after)."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) <= step]
    if len(kept) < len(lines):
        path.write_text("".join(kept), encoding="utf-8")


@dataclass
class Run:
    """A model, its optimizer and how far training has come (what a checkpoint holds)."""

    args: argparse.Namespace
    model: torch.nn.Module
    config: Any
    opt: torch.optim.Optimizer
    step: int = 0
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def ckpt_root(self) -> Path:
        return self.args.exp / "checkpoints"

    def save(self, extra: dict | None = None) -> None:
        """A checkpoint named step-N; `extra` joins the train state after the standard keys."""
        save_checkpoint(self.ckpt_root, f"step-{self.step}", self.model, self.opt,
                        {"step": self.step, "config": self.config.to_dict(), "seed": self.args.seed,
                         "audio_seconds": self.audio_seconds, "wall_seconds": self.wall_seconds, **(extra or {})},
                        keep_last=self.args.keep_last)


def start_run(args: argparse.Namespace, config_class: type, model_class: type,
              make_config: Callable[[argparse.Namespace], Any],
              load_model_dir: Callable[[Path], torch.nn.Module]) -> Run:
    """Resumes from EXP's newest checkpoint; else starts from --init-from's model dir (a new optimizer and
    schedule), else from make_config(args). Seeds torch before the model is made."""
    torch.set_num_threads(args.num_threads)
    ckpt = latest_checkpoint(args.exp / "checkpoints")
    torch.manual_seed(args.seed)
    if ckpt is None and args.init_from is not None:
        model = load_model_dir(args.init_from)
        config = model.config
    else:
        config = config_class.from_dict(load_train_state(ckpt)["config"]) if ckpt else make_config(args)
        model = model_class(config)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=args.weight_decay)
    run = Run(args, model, config, opt)
    if ckpt is not None:
        state = load_checkpoint(ckpt, model, opt)
        run.step, run.audio_seconds, run.wall_seconds = state["step"], state["audio_seconds"], state["wall_seconds"]
        print(f"resumed from {ckpt} at step {run.step}", flush=True)
    return run


def write_config(run: Run) -> int:
    """EXP/config.json (the model config); returns the model's parameter count."""
    run.args.exp.mkdir(parents=True, exist_ok=True)
    (run.args.exp / "config.json").write_text(json.dumps(run.config.to_dict(), indent=1), encoding="utf-8")
    return sum(p.numel() for p in run.model.parameters())


def open_logs(exp: Path, step: int, terms: tuple[str, ...], dev_terms: tuple[str, ...]) -> tuple[TextIO, TextIO]:
    """EXP/train.csv and EXP/dev.csv opened to append, each cut back to `step` first (rows an interrupted run
    wrote after its checkpoint come again); headers when train.csv is new."""
    for name in ("train.csv", "dev.csv"):
        truncate_log(exp / name, step)
    new_log = not (exp / "train.csv").exists()
    log = open(exp / "train.csv", "a", encoding="utf-8")
    dev_log = open(exp / "dev.csv", "a", encoding="utf-8")
    if new_log:
        log.write("step," + ",".join(terms) + ",grad_norm,lr,batch,audio_s,step_s\n")
        dev_log.write("step," + ",".join(dev_terms) + "\n")
    return log, dev_log


def train(run: Run, order: np.ndarray, lengths: np.ndarray,
          make_batch: Callable[[list[int], torch.Generator], dict],
          loss: Callable[[dict, torch.Generator], dict[str, torch.Tensor]], frames_key: str,
          dev_metrics: Callable[[], dict[str, float]], terms: tuple[str, ...], dev_terms: tuple[str, ...],
          state_extra: dict | None = None) -> None:
    """Updates until --max-steps (or --stop-after): per step one generator, a drawn batch, the loss, a clipped
    AdamW update; logs every step to train.csv (printed every --log-every), dev metrics every --dev-every,
    a checkpoint every --save-minutes / --save-every and at the end. `batch[frames_key]` holds the frame counts
    (100 per second)."""
    args = run.args
    log, dev_log = open_logs(args.exp, run.step, terms, dev_terms)
    last = min(args.max_steps, args.stop_after or args.max_steps)
    t_run, t_saved = time.time(), time.time()
    while run.step < last:
        t_step = time.time()
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + run.step)
        index = draw_batch(order, lengths, args.batch_size, args.max_frames, g)
        batch = make_batch(index, g)
        for group in run.opt.param_groups:
            group["lr"] = lr_at(run.step, args)
        values = loss(batch, g)
        run.opt.zero_grad(set_to_none=True)
        values["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), args.grad_clip)
        run.opt.step()
        run.step += 1
        step = run.step
        if not math.isfinite(values["loss"].item()):
            raise SystemExit(f"loss is {values['loss'].item()} at step {step}")
        seconds = float(batch[frames_key].sum()) / 100.0
        run.audio_seconds += seconds
        dt = time.time() - t_step
        run.wall_seconds += dt
        log.write(f"{step}," + ",".join(f"{values[k].item():.5f}" for k in terms)
                  + f",{float(grad_norm):.4f},{lr_at(step - 1, args):.3g},{len(index)},{seconds:.2f},{dt:.3f}\n")
        if step % args.log_every == 0 or step == last:
            log.flush()
            print(f"step {step} " + " ".join(f"{k} {values[k].item():.4f}" for k in terms)
                  + f" grad {float(grad_norm):.2f} | {run.wall_seconds / step:.2f} s/update, "
                  f"{run.audio_seconds / max(run.wall_seconds, 1e-9):.1f} audio-h per h ({time.time() - t_run:.0f} s)",
                  flush=True)
        if step % args.dev_every == 0 or step == last:
            d = dev_metrics()
            dev_log.write(f"{step}," + ",".join(f"{d[k]:.5f}" for k in dev_terms) + "\n")
            dev_log.flush()
            print(f"dev step {step} " + " ".join(f"{k} {d[k]:.4f}" for k in dev_terms), flush=True)
        if (step == last or (args.save_every and step % args.save_every == 0)
                or time.time() - t_saved > 60 * args.save_minutes):
            run.save(state_extra)
            t_saved = time.time()
    log.close()
    dev_log.close()


# ---------------------------------------------------------------- export
def load_newest(exp: Path, config_class: type, model_class: type) -> tuple[Path, dict, Any, torch.nn.Module]:
    """EXP's newest checkpoint -> (its folder, its train state, the model config, the model with its weights)."""
    ckpt = latest_checkpoint(exp / "checkpoints")
    if ckpt is None:
        raise SystemExit(f"no checkpoint in {exp / 'checkpoints'} to export")
    state = load_train_state(ckpt)
    config = config_class.from_dict(state["config"])
    model = model_class(config)
    model.load_state_dict(load_model_weights(ckpt))
    return ckpt, state, config, model


def export_extra(ckpt: Path, state: dict, **more: Any) -> dict:
    """What an export's config.json says of its training: checkpoint, step, `more`, audio and wall hours."""
    return {"checkpoint": ckpt.name, "step": state["step"], **more,
            "audio_hours_seen": round(state.get("audio_seconds", 0.0) / 3600, 3),
            "train_hours": round(state.get("wall_seconds", 0.0) / 3600, 3)}


def card_head(out: Path, what: str, recipe: str, exp: Path, ckpt: Path, extra: dict, model: torch.nn.Module,
              config: Any) -> str:
    """The first lines of an exported MODEL_CARD.md stub: title, provenance, size and sampler."""
    n_params = sum(p.numel() for p in model.parameters())
    return (f"# {out.name}\n\n"
            f"{what} exported by {recipe} from {ckpt.name} of {exp} "
            f"(step {extra['step']}, {extra['audio_hours_seen']} audio hours seen).\n\n"
            f"- {n_params / 1e6:.2f} M parameters, sampler {config.solver.name} NFE {config.solver.nfe}\n")
