#!/usr/bin/env python3
"""Train the chunked flow-matching vocoder (speechstream.vocoder) on audio files or a lhotse manifest.
Resumable: re-run the same command to continue from the newest checkpoint.

    python recipes/vocoder/train.py --exp /work/exp/vocoder --wav-dir /work/data/synth_en/audio/train
    python recipes/vocoder/train.py --exp /work/exp/vocoder --manifest /work/data/synth_en/cuts_train.jsonl.gz
    python recipes/vocoder/train.py --exp /work/exp/vocoder_mf --manifest ... --mean-flow --solver euler --nfe 1
    python recipes/vocoder/train.py --exp /work/exp/vocoder --export-model-dir models/vocoder_en   # export only

A skeleton: single process, whole corpus held in memory as features. Per utterance it computes the
toolkit's Fbank (speechstream.audio.torch.fbank, equal to the runtime's numpy Fbank) and the compressed
STFT frames the generator predicts; a batch is random crops of --segment-frames frames (plus the mel
look-ahead after them). Every random draw of step n comes from a generator seeded with (seed, n), so a
resumed run continues exactly as an uninterrupted one (checked by tests/test_vocoder_train_smoke.py).

Checkpoints (speechstream.train.checkpoint): exp/checkpoints/step-N/{model,optimizer}.safetensors +
state.json with the model config; written atomically. A resumed run takes the model config from its
checkpoint; training options come from the command line. --export-onnx writes exp/model/generator_step.onnx.

--export-model-dir DIR writes the newest checkpoint as a vocoder model directory (speechstream.vocoder.model_dir:
config.json, model.safetensors, generator.onnx at the model's default solver, and a MODEL_CARD.md stub if DIR has
none), the format `speechstream vocode` and `speechstream bench vocoder` read. Without --wav-dir / --manifest it
only exports; with them it trains first.

--init-from DIR starts a fresh exp from such a directory (its config and weights, a new optimizer): how a run
continues on a machine that kept none of its checkpoints. A GAN run's export also writes the critics' weights
(discriminator.safetensors, training only: nothing at inference reads it), and a GAN run started with
--init-from continues with those critics instead of fresh ones (the dip of a new GAN is skipped).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CRITICS = "discriminator.safetensors"  # a GAN run's critics in an exported model dir (training only)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", type=Path, required=True, help="experiment dir (created; resumed if it has checkpoints)")
    d = p.add_argument_group("data (one of)")
    d.add_argument("--wav-dir", type=Path, help="every *.wav / *.flac below it (resampled to 16 kHz)")
    d.add_argument("--manifest", type=Path, help="a lhotse CutSet (cuts_*.jsonl.gz) with recordings")
    d.add_argument("--max-utts", type=int, default=0,
                   help="use at most this many utterances, evenly spaced over the manifest (0: all)")
    d.add_argument("--all-conditions", action="store_true",
                   help="also train on a manifest's augmented cuts (noise, reverberation, telephone band; "
                        "synth_en marks them aug.clean = false); by default only clean speech")
    m = p.add_argument_group("model (fresh runs only)")
    m.add_argument("--tiny", action="store_true", help="VocoderConfig.tiny(): a test-size model")
    m.add_argument("--init-from", type=Path, metavar="DIR",
                   help="start from a vocoder model dir (its config and weights; a new optimizer)")
    m.add_argument("--d-model", type=int)
    m.add_argument("--num-layers", type=int)
    m.add_argument("--cond-layers", type=int)
    m.add_argument("--lookahead", type=int, help="look-ahead frames")
    m.add_argument("--chunk", type=int, help="streaming chunk frames")
    m.add_argument("--prior", choices=["gaussian", "mel"])
    m.add_argument("--mean-flow", action="store_true", help="train u(x, t, r) with the MeanFlow objective")
    m.add_argument("--solver", choices=["euler", "midpoint"], help="default solver stored with the model")
    m.add_argument("--nfe", type=int)
    t = p.add_argument_group("training")
    t.add_argument("--max-steps", type=int, default=100_000)
    t.add_argument("--stop-after", type=int, default=0,
                   help="end this run after this step as if interrupted (the schedule still ends at max-steps)")
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--segment-frames", type=int, default=64, help="frames per training crop (10 ms each)")
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--warmup-steps", type=int, default=1000)
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--grad-clip", type=float, default=1.0)
    t.add_argument("--aux-weight", type=float, default=1.0,
                   help="weight of the waveform STFT loss on the one-step estimate (flow matching only; "
                        "speechstream.vocoder.torch.waveform_loss); 0: plain flow matching")
    t.add_argument("--sampler-weight", type=float, default=1.0,
                   help="weight of the waveform STFT loss on a whole sample of the configured solver, run "
                        "with gradients (flow matching only; ~nfe + 1 network passes per update)")
    t.add_argument("--fm-weight", type=float, default=1.0,
                   help="weight of the flow-matching velocity MSE (flow matching only); 0 with --aux-weight 0 "
                        "trains the sampler on the waveform loss alone")
    t.add_argument("--phase-weight", type=float, default=0.0,
                   help="weight of the anti-wrapping group-delay + instantaneous-frequency loss on the sampler's "
                        "sample (flow matching only; speechstream.vocoder.torch.phase_loss)")
    t.add_argument("--mel-weight", type=float, default=0.0,
                   help="weight of the log-mel L1 (the toolkit's Fbank) of the sampler's sample against the truth "
                        "(flow matching only; speechstream.vocoder.torch.waveform_loss.mel_distance)")
    t.add_argument("--adv-weight", type=float, default=0.0,
                   help="weight of the adversarial + feature-matching loss of waveform discriminators on the "
                        "sampler's sample (flow matching only; speechstream.vocoder.torch.discriminator); 0: no GAN")
    t.add_argument("--feature-weight", type=float, default=2.0,
                   help="feature matching relative to the adversarial term (with --adv-weight)")
    t.add_argument("--lr-disc", type=float, default=2e-4, help="discriminators' learning rate (constant)")
    t.add_argument("--adv-items", type=int, default=8,
                   help="crops of each batch the discriminators hear (they cost ~3x the generator per crop)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--save-every", type=int, default=1000)
    t.add_argument("--keep-last", type=int, default=3)
    t.add_argument("--log-every", type=int, default=50)
    t.add_argument("--num-threads", type=int, default=2)
    t.add_argument("--export-onnx", action="store_true", help="export the generator step after training")
    t.add_argument("--export-model-dir", type=Path, metavar="DIR",
                   help="write the newest checkpoint as a vocoder model directory (after training, if data is given)")
    return p.parse_args(argv)


def load_waves(args: argparse.Namespace) -> list:
    """16 kHz mono float32 arrays."""
    if (args.wav_dir is None) == (args.manifest is None):
        raise SystemExit("give exactly one of --wav-dir and --manifest")
    waves = []
    if args.wav_dir is not None:
        from speechstream.audio.io import read_audio

        files = sorted(f for f in args.wav_dir.rglob("*") if f.suffix.lower() in (".wav", ".flac"))
        for f in files[: args.max_utts or None]:
            waves.append(read_audio(f, 16000)[0])
    else:
        for cut in select_cuts(args.manifest, args.max_utts, args.all_conditions):
            waves.append(cut.resample(16000).load_audio()[0].astype("float32"))
    if not waves:
        raise SystemExit("no audio found")
    return waves


def select_cuts(manifest: Path, max_utts: int, all_conditions: bool) -> list:
    """The cuts a manifest trains on: the clean ones (all with all_conditions), at most max_utts of them
    evenly spaced, so a manifest sorted by speaker gives every speaker."""
    from lhotse import CutSet

    cuts = [c for c in CutSet.from_file(manifest) if all_conditions or is_clean(c)]
    if max_utts and len(cuts) > max_utts:
        cuts = [cuts[i] for i in np.linspace(0, len(cuts) - 1, max_utts).astype(int)]
    return cuts


def is_clean(cut) -> bool:  # noqa: ANN001 - a lhotse Cut
    """False for the synth_en corpus's augmented copies (noise, reverberation, telephone band); cuts without
    that mark count as clean."""
    custom = (cut.supervisions[0].custom or {}) if cut.supervisions else {}
    return bool((custom.get("aug") or {}).get("clean", True))


def make_config(args: argparse.Namespace):
    from speechstream.vocoder.config import SolverConfig, VocoderConfig

    kw = {}
    for arg, name in (("d_model", "d_model"), ("num_layers", "num_layers"), ("cond_layers", "cond_layers"),
                      ("lookahead", "lookahead_frames"), ("chunk", "chunk_frames"), ("prior", "prior")):
        if getattr(args, arg) is not None:
            kw[name] = getattr(args, arg)
    if kw.get("lookahead_frames") is not None:
        kw.setdefault("cond_kernel", max(3, kw["lookahead_frames"] + 1))
    solver = args.solver or ("euler" if args.mean_flow else "midpoint")
    nfe = args.nfe or (1 if args.mean_flow else 2)
    kw.update(mean_flow=args.mean_flow, solver=SolverConfig(solver, nfe))
    return VocoderConfig.tiny(**kw) if args.tiny else VocoderConfig(**kw)


def features(waves: list, config) -> list:
    """Per utterance (mel (T, M), x1 (T, X)): Fbank frames and the compressed STFT frames aligned with them."""
    import torch

    from speechstream.audio.torch.fbank import TorchFbank
    from speechstream.vocoder.torch.spectral import encode, stft_frames

    fbank, out = TorchFbank(), []
    with torch.no_grad():
        for w in waves:
            if len(w) <= config.n_fft // 2:  # too short for the STFT's reflect padding
                continue
            wave = torch.from_numpy(w)[None]
            mel, _ = fbank(wave, torch.tensor([wave.size(1)]))
            x1 = encode(stft_frames(wave, config), config)[:, : mel.size(1)]  # T_stft = 1 + N // hop >= T_mel
            out.append((mel[0], x1[0]))
    return out


def make_batch(data: list, config, batch_size: int, frames: int, g):
    """Random crops -> x1 (B, T, X), mel (B, T + L, M) (past the end: pad_feature), mask (B, T)."""
    import torch

    lookahead = config.lookahead_frames
    x1 = torch.zeros(batch_size, frames, config.frame_dim)
    mel = torch.full((batch_size, frames + lookahead, config.n_mels), config.pad_feature)
    mask = torch.zeros(batch_size, frames, dtype=torch.bool)
    for b in range(batch_size):
        m, x = data[int(torch.randint(len(data), (1,), generator=g))]
        n = m.size(0)
        o = int(torch.randint(max(1, n - frames + 1), (1,), generator=g))
        k = min(frames, n - o)
        x1[b, :k], mask[b, :k] = x[o:o + k], True
        km = min(frames + lookahead, n - o)
        mel[b, :km] = m[o:o + km]
    return x1, mel, mask


def lr_at(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up, then cosine decay to 10 % at max_steps."""
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    frac = (step - args.warmup_steps) / max(1, args.max_steps - args.warmup_steps)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def export_model_dir(exp: Path, out: Path) -> Path:
    """The newest checkpoint of `exp` as a vocoder model directory in `out`."""
    from speechstream.train.checkpoint import latest_checkpoint, load_model_weights, load_train_state
    from speechstream.vocoder.config import VocoderConfig
    from speechstream.vocoder.model_dir import CARD
    from speechstream.vocoder.torch.checkpoint import save_vocoder_dir
    from speechstream.vocoder.torch.generator import FlowGenerator

    ckpt = latest_checkpoint(exp / "checkpoints")
    if ckpt is None:
        raise SystemExit(f"no checkpoint in {exp / 'checkpoints'} to export")
    state = load_train_state(ckpt)
    config = VocoderConfig.from_dict(state["config"])
    generator = FlowGenerator(config)
    generator.load_state_dict(load_model_weights(ckpt))
    card = None
    if not (out / CARD).exists():  # never overwrite a card someone wrote
        n_params = sum(p.numel() for p in generator.parameters())
        kind = "mean flow" if config.mean_flow else "flow matching"
        card = (f"# {out.name}\n\n"
                f"Chunked flow-matching vocoder exported by recipes/vocoder/train.py from {ckpt.name} of {exp} "
                f"(step {state['step']}).\n\n"
                f"- {n_params / 1e6:.2f} M parameters, {kind}, default sampler {config.solver.name} "
                f"NFE {config.solver.nfe}\n"
                f"- chunk {config.chunk_frames} frames + look-ahead {config.lookahead_frames}: "
                f"latency {config.latency_ms:g} ms\n"
                "- training data, evaluation: (to be written)\n")
    save_vocoder_dir(generator, out, model_card=card, extra={"checkpoint": ckpt.name, "step": state["step"]})
    if (ckpt / CRITICS).is_file():  # the checkpoint's file of its "discriminator" extra has the same name
        shutil.copyfile(ckpt / CRITICS, out / CRITICS)
    elif (out / CRITICS).is_file():  # never leave another run's critics beside these weights
        (out / CRITICS).unlink()
    print(f"wrote {out} from {ckpt}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)
    if args.export_model_dir is not None and args.wav_dir is None and args.manifest is None:
        export_model_dir(args.exp, args.export_model_dir)
        return 0
    import torch

    from speechstream.train.checkpoint import (checkpoint_extras, latest_checkpoint, load_checkpoint,
                                               load_train_state, save_checkpoint)
    from speechstream.vocoder.config import VocoderConfig
    from speechstream.vocoder.torch.flow import LossWeights, loss_fn
    from speechstream.vocoder.torch.generator import FlowGenerator

    torch.set_num_threads(args.num_threads)
    ckpt_root = args.exp / "checkpoints"
    ckpt = latest_checkpoint(ckpt_root)
    torch.manual_seed(args.seed)
    if ckpt is None and args.init_from is not None:
        from speechstream.vocoder.torch.checkpoint import load_generator

        generator = load_generator(args.init_from).train()
        config = generator.config
    else:
        config = VocoderConfig.from_dict(load_train_state(ckpt)["config"]) if ckpt else make_config(args)
        generator = FlowGenerator(config)
    opt = torch.optim.AdamW(generator.parameters(), lr=args.lr, betas=(0.8, 0.99), weight_decay=args.weight_decay)
    if args.adv_weight and config.mean_flow:
        raise SystemExit("--adv-weight works with flow matching, not --mean-flow")
    gan = None
    if args.adv_weight:  # built after the generator: its initial weights are seeded alike in every run
        from speechstream.vocoder.torch.adversary import Adversary, AdversaryConfig

        gan = Adversary(AdversaryConfig(args.adv_weight, args.feature_weight, args.lr_disc, args.adv_items,
                                        args.weight_decay, args.grad_clip))
    extras = gan.extras() if gan else None
    step = 0
    if ckpt is not None:
        step = load_checkpoint(ckpt, generator, opt, extras)["step"]
        print(f"resumed from {ckpt} at step {step}", flush=True)
        if gan and "discriminator" not in checkpoint_extras(ckpt):
            print("the checkpoint has no discriminator: starting one", flush=True)
    elif gan and args.init_from is not None and (args.init_from / CRITICS).is_file():
        from speechstream.nn.weights import load_weights

        load_weights(gan.disc, args.init_from / CRITICS, "the discriminator").train()
        print(f"critics from {args.init_from / CRITICS}", flush=True)
    args.exp.mkdir(parents=True, exist_ok=True)
    (args.exp / "config.json").write_text(json.dumps(config.to_dict(), indent=1), encoding="utf-8")
    n_params = sum(p.numel() for p in generator.parameters())
    data = features(load_waves(args), config)
    print(f"{len(data)} utterances, {n_params / 1e6:.2f} M parameters, objective "
          f"{'mean flow' if config.mean_flow else 'flow matching'}", flush=True)

    weights = LossWeights(fm=args.fm_weight, aux=args.aux_weight, sampler=args.sampler_weight,
                          mel=args.mel_weight, phase=args.phase_weight)
    objective = loss_fn(config, weights)
    generator.train()
    log = open(args.exp / "train.csv", "a", encoding="utf-8")
    t_start = time.time()
    last = min(args.max_steps, args.stop_after or args.max_steps)
    while step < last:
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        x1, mel, mask = make_batch(data, config, args.batch_size, args.segment_frames, g)
        s = generator.prior(mel[:, : args.segment_frames])
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args)
        extra = {"sample_hook": gan.generator_term} if gan else {}
        loss = objective(generator.net, x1, mel, s, config, mask=mask, generator=g, **extra)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(generator.parameters(), args.grad_clip)
        opt.step()
        d_loss = gan.update() if gan else None  # on the sample just made, detached
        step += 1
        if not math.isfinite(loss.item()):
            raise SystemExit(f"loss is {loss.item()} at step {step}")
        d_col = f",{d_loss:.6f}" if gan else ""
        log.write(f"{step},{loss.item():.6f},{float(grad_norm):.4f},{lr_at(step - 1, args):.3g}{d_col}\n")
        if step % args.log_every == 0 or step == last:
            log.flush()
            d_msg = f" disc {d_loss:.4f}" if gan else ""
            print(f"step {step} loss {loss.item():.4f}{d_msg} grad {float(grad_norm):.3f} "
                  f"({time.time() - t_start:.0f} s)", flush=True)
        if step % args.save_every == 0 or step == last:
            save_checkpoint(ckpt_root, f"step-{step}", generator, opt,
                            {"step": step, "config": config.to_dict(), "seed": args.seed},
                            keep_last=args.keep_last, extras=extras)
    log.close()
    if args.export_onnx:
        from speechstream.vocoder.torch.export import export_generator_step

        (args.exp / "model").mkdir(exist_ok=True)
        export_generator_step(generator.eval(), args.exp / "model" / "generator_step.onnx")
    if args.export_model_dir is not None:
        export_model_dir(args.exp, args.export_model_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
