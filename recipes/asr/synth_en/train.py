#!/usr/bin/env python3
"""Train a streaming (cache-aware Conformer) CTC + RNN-T model on synth_en — or any lhotse corpus with
stored features (see compute_features.py). Resumable: re-run the same command to continue.

    # single process (CPU, or one GPU when there is one)
    python recipes/asr/synth_en/train.py --exp /work/exp/asr_synth_en
    # several processes / GPUs, unchanged
    torchrun --nproc-per-node 2 recipes/asr/synth_en/train.py --exp /work/exp/asr_synth_en
    # write a shipped model directory from the newest checkpoints (averaged), without training
    python recipes/asr/synth_en/train.py --exp /work/exp/asr_synth_en --export-model-dir models/asr_en --average 3

Default model (5.3 M parameters): d_model 176, 10 layers, 4 heads, feed-forward x2, subsampling 8x with
128 channels, conv kernel 9, look-aheads (64,0) (64,1) (64,5) = 80/160/480 ms chunks. Chosen by measurement
on the 2-core build machine: ~44 audio-hours per wall-hour with 2 threads, ~15 % faster than d_model 144
with feed-forward x4 at the same size.

The exp dir holds tokenizer/ (bpe.model, tokens.txt), checkpoints/, train.csv, dev.csv and model/ (the
exported model after the last epoch). Model options only apply to a fresh run: a resumed run takes the
model config from its checkpoint; training options (epochs, lr, ...) are read from the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

DEFAULT_FBANK = "/work/data/synth_en_fbank"


def parse_contexts(s: str) -> tuple[tuple[int, int], ...]:
    """'64,0;64,1;64,5' -> ((64, 0), (64, 1), (64, 5))."""
    return tuple((int(a), int(b)) for a, b in (p.split(",") for p in s.split(";") if p.strip()))


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", type=Path, required=True, help="experiment dir (created; resumed if it has checkpoints)")
    d = p.add_argument_group("data")
    d.add_argument("--fbank-dir", type=Path, default=Path(DEFAULT_FBANK),
                   help="compute_features.py output: cuts_train*.jsonl.gz, cuts_dev.jsonl.gz")
    d.add_argument("--train-cuts", type=Path, nargs="*",
                   help="train manifests with features (default: FBANK_DIR/cuts_train.jsonl.gz + its _sp copies)")
    d.add_argument("--dev-cuts", type=Path, help="dev manifest with features (default: FBANK_DIR/cuts_dev.jsonl.gz)")
    d.add_argument("--no-speed-perturb", action="store_true", help="ignore the cuts_train_sp*.jsonl.gz copies")
    d.add_argument("--dev-utts", type=int, default=200, help="dev utterances scored during training (0: none)")
    d.add_argument("--max-duration", type=float, default=120.0, help="seconds of audio per batch and process")
    d.add_argument("--num-buckets", type=int, default=20)
    d.add_argument("--max-cut-duration", type=float, default=20.0)
    d.add_argument("--num-workers", type=int, default=-1, help="data loader workers (-1: 0 on CPU, 2 on GPU)")
    t = p.add_argument_group("tokenizer")
    t.add_argument("--vocab-size", type=int, default=256, help="BPE pieces + the blank")
    t.add_argument("--tokenizer-dir", type=Path, help="use this tokens.txt + bpe.model instead of training one")
    m = p.add_argument_group("model (fresh runs only)")
    m.add_argument("--d-model", type=int, default=176)
    m.add_argument("--num-layers", type=int, default=10)
    m.add_argument("--num-heads", type=int, default=4)
    m.add_argument("--ff-mult", type=int, default=2)
    m.add_argument("--subsampling-channels", type=int, default=128)
    m.add_argument("--subsampling-factor", type=int, default=8)
    m.add_argument("--conv-kernel", type=int, default=9)
    m.add_argument("--dropout", type=float, default=0.1)
    m.add_argument("--att-contexts", default="64,0;64,1;64,5",
                   help="(left,right) encoder frames per look-ahead, ';'-separated; one is drawn per batch")
    m.add_argument("--default-att-context", type=int, default=1, help="index of the context exported by default")
    m.add_argument("--d-pred", type=int, default=256)
    m.add_argument("--d-join", type=int, default=256)
    m.add_argument("--init-from", type=Path, help="fine-tune: start from this model dir (save_model_dir format)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--ctc-weight", type=float,
                   help="loss = w * CTC + (1 - w) * RNN-T (fresh runs: 0.3). Also applies when resuming: 1.0 trains "
                        "CTC alone (no RNN-T cost), a quicker way off the blank plateau, then resume hybrid")
    o.add_argument("--num-epochs", type=int, default=6)
    o.add_argument("--peak-lr", type=float, default=1e-3,
                   help="2e-3 kept the 10-layer model on the blank plateau; 5e-4 overfits a small set fast")
    o.add_argument("--warmup-steps", type=int, default=1000)
    o.add_argument("--lr-schedule", choices=["noam", "cosine"], default="noam")
    o.add_argument("--total-steps", type=int, default=0, help="cosine decay length")
    o.add_argument("--weight-decay", type=float, default=1e-3)
    o.add_argument("--grad-clip", type=float, default=5.0)
    o.add_argument("--no-spec-augment", action="store_true")
    o.add_argument("--vtlp", type=float, default=0.1, metavar="W",
                   help="vocal tract length perturbation: a warp factor in [1 - W, 1 + W] per utterance "
                        "(speechstream.train.vtlp; 0 turns it off)")
    o.add_argument("--bf16", action="store_true", help="bf16 autocast (on CPU measure first)")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--num-threads", type=int, default=2, help="torch CPU threads per process")
    o.add_argument("--max-steps", type=int, default=0, help="stop after this many updates (0: run all epochs)")
    o.add_argument("--max-cpu-minutes", type=float, default=0.0,
                   help="stop once the updates have used this much CPU time (a fixed compute budget for "
                        "comparing recipes; 0: no limit)")
    r = p.add_argument_group("checkpoints and logs")
    r.add_argument("--ckpt-minutes", type=float, default=10.0)
    r.add_argument("--keep-last", type=int, default=3, help="periodic checkpoints kept (epoch ends are all kept)")
    r.add_argument("--dev-every", type=int, default=500, help="updates between dev evaluations (0: epoch ends)")
    r.add_argument("--no-progress", action="store_true")
    x = p.add_argument_group("export")
    x.add_argument("--export-model-dir", type=Path, help="only write a model dir from the checkpoints and exit")
    x.add_argument("--average", type=int, default=1, help="average the last N checkpoints when exporting")
    return p.parse_args(argv)


def model_config(args: argparse.Namespace, vocab_size: int):
    from speechstream.asr.config import ASRModelConfig, ConformerConfig

    enc = ConformerConfig(subsampling_factor=args.subsampling_factor, subsampling_channels=args.subsampling_channels,
                          d_model=args.d_model, num_layers=args.num_layers, num_heads=args.num_heads,
                          ff_mult=args.ff_mult, conv_kernel=args.conv_kernel, dropout=args.dropout,
                          att_contexts=parse_contexts(args.att_contexts),
                          default_att_context=args.default_att_context)
    return ASRModelConfig(encoder=enc, vocab_size=vocab_size, d_pred=args.d_pred, d_join=args.d_join,
                          ctc_weight=0.3 if args.ctc_weight is None else args.ctc_weight)


def train_manifests(args: argparse.Namespace) -> list[Path]:
    if args.train_cuts:
        return list(args.train_cuts)
    paths = [args.fbank_dir / "cuts_train.jsonl.gz"]
    if not args.no_speed_perturb:
        paths += sorted(args.fbank_dir.glob("cuts_train_sp*.jsonl.gz"))
    return paths


def prepare_tokenizer(args: argparse.Namespace, train_cuts, is_main: bool):
    """exp/tokenizer: copied from --tokenizer-dir / --init-from, or BPE trained on the train texts only."""
    from speechstream.asr.tokenizer import Tokenizer, train_bpe
    from speechstream.train.data import cut_text

    out = args.exp / "tokenizer"
    if is_main and not (out / "tokens.txt").is_file():
        src = args.tokenizer_dir or args.init_from
        if src is not None:
            out.mkdir(parents=True, exist_ok=True)
            for name in ("tokens.txt", "bpe.model"):
                if (src / name).is_file():
                    shutil.copy(src / name, out / name)
        else:
            # Unique texts: the speed-perturbed copies repeat the originals' texts.
            texts = sorted({cut_text(c) for c in train_cuts})
            tmp = args.exp / "tokenizer.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            train_bpe(texts, args.vocab_size, str(tmp))
            tmp.rename(out)
    barrier()
    return Tokenizer.from_dir(str(out))


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def dev_subset(cuts, n: int):
    """n dev cuts spread evenly over the (id-sorted) manifest, so every dev speaker is scored."""
    from lhotse import CutSet

    cuts = sorted(cuts, key=lambda c: c.id)
    if n <= 0 or not cuts:
        return None
    stride = max(1, len(cuts) // n)
    return CutSet.from_cuts(cuts[::stride][:n])


def feature_stats(cuts, n: int = 1000):  # noqa: ANN001, ANN201
    """Per-bin mean and std (F,) of the features of n evenly spaced cuts: the encoder's input normalisation."""
    import numpy as np
    import torch

    step = max(1, len(cuts) // n)
    feats = np.concatenate([c.load_features() for c in cuts[::step][:n]]).astype(np.float64)
    return torch.from_numpy(feats.mean(0)).float(), torch.from_numpy(feats.std(0)).float()


def export(args: argparse.Namespace) -> int:
    """Writes the model dir from the newest checkpoint (or the mean of the newest --average ones)."""
    from speechstream.asr.config import ASRModelConfig
    from speechstream.asr.torch.model import ASRModel
    from speechstream.train.checkpoint import average_weights, load_train_state

    root = args.exp / "checkpoints"
    ckpts = [c for c in root.glob("*") if (c / "state.json").is_file() and not c.name.endswith((".tmp", ".old"))]
    if not ckpts:
        print(f"no checkpoints in {root}", file=sys.stderr)
        return 1
    ckpts.sort(key=lambda c: (load_train_state(c)["step"], c.name.startswith("epoch-")))
    # An epoch end and a periodic checkpoint of the same step hold the same weights: count it once.
    by_step = {load_train_state(c)["step"]: c for c in ckpts}
    chosen = [by_step[s] for s in sorted(by_step)][-max(1, args.average):]
    state = load_train_state(chosen[-1])
    model = ASRModel(ASRModelConfig.from_dict(state["model_config"]))
    model.load_state_dict(average_weights(chosen))
    model.eval()
    from speechstream.asr.torch.checkpoint import save_model_dir
    from speechstream.audio import FbankConfig

    save_model_dir(model, str(args.export_model_dir), str(args.exp / "tokenizer"), feature_config=FbankConfig())
    meta = {"checkpoints": [c.name for c in chosen], "step": state["step"], "epoch": state["epoch"],
            "audio_hours_seen": state["audio_seconds"] / 3600}
    if (args.exp / "init_from.json").is_file():
        meta["init_from"] = json.loads((args.exp / "init_from.json").read_text())
    (args.export_model_dir / "training.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {args.export_model_dir} from {', '.join(c.name for c in chosen)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)
    if args.export_model_dir is not None:
        return export(args)

    import torch
    from lhotse import CutSet

    from speechstream.asr.config import ASRModelConfig
    from speechstream.asr.torch.model import ASRModel
    from speechstream.train.checkpoint import latest_checkpoint, load_train_state
    from speechstream.train.data import SamplerConfig, filter_cuts
    from speechstream.train.loop import LRSchedule, TrainConfig, Trainer, setup_distributed
    from speechstream.train.specaugment import SpecAugmentConfig
    from speechstream.train.vtlp import VtlpConfig

    torch.set_num_threads(args.num_threads)
    dist_info = setup_distributed()
    args.exp.mkdir(parents=True, exist_ok=True)
    sampler = SamplerConfig(max_duration=args.max_duration, num_buckets=args.num_buckets,
                            max_cut_duration=args.max_cut_duration, seed=args.seed)
    manifests = train_manifests(args)
    missing = [str(m) for m in manifests if not m.is_file()]
    if missing:
        print(f"missing manifests: {missing} (run compute_features.py first)", file=sys.stderr)
        return 1
    train_cuts = filter_cuts(CutSet.from_cuts(c for m in manifests for c in CutSet.from_file(m)), sampler)
    train_cuts = train_cuts.to_eager()
    dev_path = args.dev_cuts or args.fbank_dir / "cuts_dev.jsonl.gz"
    dev_cuts = dev_subset(CutSet.from_file(dev_path), args.dev_utts) if dev_path.is_file() else None
    tokenizer = prepare_tokenizer(args, train_cuts, dist_info.is_main)

    ckpt = latest_checkpoint(args.exp / "checkpoints")
    if ckpt is not None:  # resuming: the model is what the checkpoint says, whatever the flags
        config = ASRModelConfig.from_dict(load_train_state(ckpt)["model_config"])
        torch.manual_seed(args.seed)
        model = ASRModel(config)
    elif args.init_from is not None:
        from speechstream.asr.torch.checkpoint import load_model_dir

        model = load_model_dir(str(args.init_from))
        model = model[0] if isinstance(model, tuple) else model
        config = model.config
        if dist_info.is_main:  # the lineage: exported model dirs and their cards carry it on
            prior = args.init_from / "training.json"
            lineage = {"model_dir": str(args.init_from), **(json.loads(prior.read_text()) if prior.is_file() else {})}
            args.exp.mkdir(parents=True, exist_ok=True)
            (args.exp / "init_from.json").write_text(json.dumps(lineage, indent=1) + "\n")
    else:
        config = model_config(args, tokenizer.vocab_size)
        torch.manual_seed(args.seed)  # the same initial weights on every rank and every fresh run
        model = ASRModel(config)
        model.encoder.subsampling.set_normalization(*feature_stats(train_cuts))
    if args.ctc_weight is not None and args.ctc_weight != config.ctc_weight:
        config = dataclasses.replace(config, ctc_weight=args.ctc_weight)
        model.config = config
    if config.vocab_size != tokenizer.vocab_size:
        print(f"model vocab {config.vocab_size} != tokenizer {tokenizer.vocab_size}", file=sys.stderr)
        return 1

    workers = args.num_workers if args.num_workers >= 0 else (2 if dist_info.device.type == "cuda" else 0)
    train_config = TrainConfig(
        num_epochs=args.num_epochs,
        schedule=LRSchedule(peak_lr=args.peak_lr, warmup_steps=args.warmup_steps, kind=args.lr_schedule,
                            total_steps=args.total_steps),
        weight_decay=args.weight_decay, grad_clip=args.grad_clip, sampler=sampler,
        spec_augment=SpecAugmentConfig(num_freq_masks=0, max_time_masks=0) if args.no_spec_augment
        else SpecAugmentConfig(),
        vtlp=VtlpConfig(max_warp=args.vtlp),
        ckpt_minutes=args.ckpt_minutes, keep_last=args.keep_last, dev_every_steps=args.dev_every,
        bf16=args.bf16, seed=args.seed, num_workers=workers, max_steps=args.max_steps,
        max_cpu_minutes=args.max_cpu_minutes, progress=not args.no_progress)
    trainer = Trainer(model, tokenizer, args.exp, train_config, dist_info)
    if dist_info.is_main:
        n_params = sum(p.numel() for p in model.parameters())
        hours = sum(c.duration for c in train_cuts) / 3600
        where = f"resuming from {trainer.resumed_from}" if trainer.resumed_from else "fresh start"
        print(f"{where}: step {trainer.state['step']}, epoch {trainer.state['epoch']} "
              f"(+{trainer.state['batches_done']} batches); {n_params / 1e6:.2f} M parameters; "
              f"train {len(train_cuts)} cuts, {hours:.1f} h; device {dist_info.device} x {dist_info.world_size}",
              flush=True)
        (args.exp / "model_config.json").write_text(json.dumps(config.to_dict(), indent=1) + "\n")
    state = trainer.fit(train_cuts, dev_cuts)
    if dist_info.is_main and state["epoch"] >= args.num_epochs:
        export(argparse.Namespace(**{**vars(args), "export_model_dir": args.exp / "model",
                                     "average": max(args.average, 3)}))
    barrier()
    return 0


if __name__ == "__main__":
    sys.exit(main())
