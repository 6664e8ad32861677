#!/usr/bin/env python3
"""Train the streaming TTS acoustic model (speechstream.tts.torch) on prepare.py's features.
Resumable: re-run the same command to continue from the newest checkpoint.

    python recipes/tts/kokoro_en/train.py --exp /work/exp/tts_kokoro --features /work/exp/tts_features
    python recipes/tts/kokoro_en/train.py --exp NEW --features F --init-from models/tts_en_wip   # fresh optimizer
    python recipes/tts/kokoro_en/train.py --exp /work/exp/tts_kokoro --export-model-dir EXP/model  # export only

Stage "flow" (the only one so far) trains everything at once (speechstream.tts.torch.losses.acoustic_loss):
durations by monotonic alignment search against the encoder's per-phoneme mel estimate (the "align" term
trains that estimate), the duration predictor on the MAS durations times the teacher's speed, the decoder's
prior (mu) and its flow-matching velocity on whole utterances. Distillation of the decoder to 1-2 solver steps
(a student sampled against this model's many-step output, or a mean-flow objective) is the next stage; it
will be a second --stage that starts from this stage's weights (--init-from) and reuses the loop below.

Batches: utterances sorted by length, a random window of neighbours per step (at most --batch-size of them
and --max-frames padded frames), so padding stays small. Every random draw of step n comes from a generator
seeded with (seed, n): a resumed run continues exactly as an uninterrupted one
(tests/test_tts_train_smoke.py). Dev losses use one fixed generator, so they compare across steps.

Checkpoints (speechstream.train.checkpoint, no pickles): EXP/checkpoints/step-N/{model,optimizer}.safetensors +
state.json (step, model config, audio seconds and wall seconds so far), written atomically every
--save-minutes and at the end. EXP/train.csv and EXP/dev.csv log the losses.

--export-model-dir DIR writes the newest checkpoint as the model directory Synthesizer.from_dir loads
(config.json, model.safetensors, encoder.onnx, decoder.onnx; speechstream.tts.torch.checkpoint), with
--weights-only just config.json + model.safetensors (a work-in-progress to continue from), and a MODEL_CARD.md
stub when DIR has none. Speaker-table rows of voices the features never used (the held-out voices) are replaced
in the export by the mean of the trained rows of their group (af / am / bf / bm): an untrained row is noise,
the group's mean is a plausible voice of that accent and sex. config.json's "untrained_voices" names them.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEV_SEED = 1234


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", type=Path, required=True, help="experiment dir (created; resumed if it has checkpoints)")
    p.add_argument("--features", type=Path, help="prepare.py's output folder")
    m = p.add_argument_group("model (fresh runs only)")
    m.add_argument("--tiny", action="store_true", help="AcousticConfig.tiny(): a test-size model")
    m.add_argument("--init-from", type=Path, metavar="DIR",
                   help="start from a TTS model dir (its config and weights; a new optimizer and schedule)")
    m.add_argument("--d-model", type=int, help="encoder width")
    m.add_argument("--d-decoder", type=int, help="decoder width")
    m.add_argument("--decoder-layers", type=int)
    m.add_argument("--encoder-layers", type=int)
    t = p.add_argument_group("training")
    t.add_argument("--stage", choices=["flow"], default="flow", help="see the description; distil comes next")
    t.add_argument("--max-steps", type=int, default=50_000, help="where the cosine schedule ends")
    t.add_argument("--stop-after", type=int, default=0,
                   help="end this run after this step as if interrupted (the schedule still ends at max-steps)")
    t.add_argument("--batch-size", type=int, default=16, help="at most this many utterances per update")
    t.add_argument("--max-frames", type=int, default=8000, help="at most this many padded frames per update")
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--warmup-steps", type=int, default=300)
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--grad-clip", type=float, default=1.0)
    t.add_argument("--w-duration", type=float, default=1.0)
    t.add_argument("--w-flow", type=float, default=1.0)
    t.add_argument("--w-prior", type=float, default=1.0)
    t.add_argument("--w-align", type=float, default=1.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--save-minutes", type=float, default=10.0, help="checkpoint at least this often")
    t.add_argument("--save-every", type=int, default=0, help="also checkpoint every N steps (0: off)")
    t.add_argument("--keep-last", type=int, default=3)
    t.add_argument("--log-every", type=int, default=20)
    t.add_argument("--dev-every", type=int, default=250, help="dev losses every N steps (and at the end)")
    t.add_argument("--max-dev-utts", type=int, default=64)
    t.add_argument("--num-threads", type=int, default=1)
    e = p.add_argument_group("export")
    e.add_argument("--export-model-dir", type=Path, metavar="DIR",
                   help="write the newest checkpoint as a TTS model directory (after training, if --features)")
    e.add_argument("--weights-only", action="store_true", help="export config.json + model.safetensors only")
    e.add_argument("--export-solver", choices=["euler", "midpoint"], help="sampler stored in the export")
    e.add_argument("--export-nfe", type=int, help="network evaluations per chunk in the export")
    return p.parse_args(argv)


# ---------------------------------------------------------------- data
@dataclass
class Split:
    """One split of prepare.py's features, held in memory (mel as float16)."""

    ids: list[np.ndarray]
    mel: list[np.ndarray]
    voice: np.ndarray  # (U, S)
    speed: np.ndarray  # (U,)
    rows: list[dict]
    speakers: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def seconds(self) -> float:
        return sum(len(m) for m in self.mel) / 100.0


def load_split(folder: Path, split: str) -> Split:
    from safetensors import safe_open

    ids, mel, voice, speed, rows, speakers = [], [], [], [], [], None
    files = sorted(folder.glob(f"{split}-*.safetensors"))
    if not files:
        raise SystemExit(f"no {split} features in {folder}: run prepare.py")
    for f in files:
        with safe_open(str(f), framework="numpy") as st:
            meta = st.metadata()
            t = {k: st.get_tensor(k) for k in st.keys()}
        mo, io = t["mel_offsets"], t["id_offsets"]
        mel += [t["mel"][a:b] for a, b in zip(mo[:-1], mo[1:])]
        ids += [t["ids"][a:b] for a, b in zip(io[:-1], io[1:])]
        voice.append(t["voice"])
        speed.append(t["speed"])
        rows += json.loads(meta["utterances"])
        s = tuple(json.loads(meta["speakers"]))
        if speakers is not None and s != speakers:
            raise SystemExit(f"{f}: another speaker table than the other shards")
        speakers = s
    return Split(ids, mel, np.concatenate(voice), np.concatenate(speed), rows, speakers)


def batch_of(data: Split, index: list[int]) -> dict:
    """acoustic_loss's keywords for these utterances (corpus.collate pads)."""
    from speechstream.tts.torch.corpus import Example, collate

    return collate([Example(data.rows[i]["id"], data.ids[i], data.mel[i].astype(np.float32), data.voice[i],
                            float(data.speed[i])) for i in index])


TERMS = ("loss", "duration", "flow", "prior", "align")


def dev_losses(model, dev: Split, args: argparse.Namespace, weights) -> dict[str, float]:
    """Mean of each term over the first --max-dev-utts dev utterances, one fixed generator."""
    import torch

    from speechstream.tts.torch.losses import acoustic_loss

    n = min(len(dev), args.max_dev_utts)
    order = sorted(range(n), key=lambda i: len(dev.mel[i]))
    g = torch.Generator().manual_seed(DEV_SEED)
    sums = dict.fromkeys(TERMS, 0.0)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for a in range(0, n, args.batch_size):
            index = order[a:a + args.batch_size]
            terms = acoustic_loss(model, **batch_of(dev, index), weights=weights, generator=g)
            for k in TERMS:
                sums[k] += terms[k].item() * len(index)
    model.train(was_training)
    return {k: v / max(1, n) for k, v in sums.items()}


# ---------------------------------------------------------------- model and export
def make_config(args: argparse.Namespace):
    from speechstream.tts.config import AcousticConfig

    kw = {name: getattr(args, name) for name in ("d_model", "d_decoder", "decoder_layers", "encoder_layers")
          if getattr(args, name) is not None}
    return AcousticConfig.tiny(**kw) if args.tiny else AcousticConfig(**kw)


def fill_untrained(model, untrained: list[str]) -> None:
    """Rows of `untrained` voices := the mean of the trained rows sharing their two-letter group (af, am, bf,
    bm), or of all trained rows when the group has none."""
    import torch

    names = list(model.config.speakers)
    trained = [n for n in names if n not in untrained]
    if not trained:
        return
    with torch.no_grad():
        table = model.speaker_table
        for name in untrained:
            group = [names.index(n) for n in trained if n[:2] == name[:2]] or [names.index(n) for n in trained]
            table[names.index(name)] = table[group].mean(dim=0)


def export_model_dir(exp: Path, out: Path, weights_only: bool = False, solver: str | None = None,
                     nfe: int | None = None) -> Path:
    """The newest checkpoint of `exp` as a TTS model directory in `out`."""
    from safetensors.torch import save_file

    from speechstream.train.flow_recipe import card_head, export_extra, load_newest
    from speechstream.tts.config import AcousticConfig
    from speechstream.tts.model_dir import CARD, CONFIG, FORMAT, VERSION, WEIGHTS
    from speechstream.tts.torch.checkpoint import save_tts_dir
    from speechstream.tts.torch.model import AcousticModel

    ckpt, state, config, model = load_newest(exp, AcousticConfig, AcousticModel)
    if solver or nfe:
        kw = {k: v for k, v in (("name", solver), ("nfe", nfe)) if v}
        model = model.with_solver(**kw)
        config = model.config
    with_data = state.get("voices_with_data")
    untrained = [n for n in config.speakers if with_data is not None and n not in with_data]
    fill_untrained(model, untrained)
    extra = export_extra(ckpt, state, untrained_voices=untrained)
    card = None
    if not (out / CARD).exists():  # never overwrite a card someone wrote
        card = (card_head(out, "Streaming TTS acoustic model", "recipes/tts/kokoro_en/train.py", exp, ckpt, extra,
                          model, config)
                + f"- look-ahead {config.lookahead_phonemes} phonemes; decoder chunk {config.chunk_frames} frames + "
                f"{config.lookahead_frames} look-ahead ({config.decoder_latency_ms:g} ms)\n"
                f"- voices without training data (their group's mean row): {', '.join(untrained) or 'none'}\n"
                "- evaluation: (to be written; recipes/tts/kokoro_en/evaluate.py)\n")
    if weights_only:
        out.mkdir(parents=True, exist_ok=True)
        cfg = {"format": FORMAT, "version": VERSION, "model": config.to_dict(), **extra}
        (out / CONFIG).write_text(json.dumps(cfg, indent=1) + "\n", encoding="utf-8")
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(out / WEIGHTS))
        for stale in ("encoder.onnx", "decoder.onnx"):  # never leave graphs of other weights beside these
            (out / stale).unlink(missing_ok=True)
        if card is not None:
            (out / CARD).write_text(card, encoding="utf-8")
    else:
        save_tts_dir(model, out, model_card=card, extra=extra)
    print(f"wrote {out} from {ckpt}", flush=True)
    return out


# ---------------------------------------------------------------- training
def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)
    export_kw = dict(weights_only=args.weights_only, solver=args.export_solver, nfe=args.export_nfe)
    if args.features is None:
        if args.export_model_dir is None:
            raise SystemExit("give --features to train, or --export-model-dir to export")
        export_model_dir(args.exp, args.export_model_dir, **export_kw)
        return 0
    from speechstream.train import flow_recipe
    from speechstream.tts.config import AcousticConfig
    from speechstream.tts.torch.checkpoint import load_acoustic
    from speechstream.tts.torch.losses import LossWeights, acoustic_loss
    from speechstream.tts.torch.model import AcousticModel

    run = flow_recipe.start_run(args, AcousticConfig, AcousticModel, make_config, load_acoustic)
    model, config = run.model, run.config

    train, dev = load_split(args.features, "train"), load_split(args.features, "dev")
    if train.speakers != config.speakers:
        raise SystemExit(f"the features' speaker table differs from the model's: {train.speakers} vs {config.speakers}")
    with_data = [n for j, n in enumerate(config.speakers) if train.voice[:, j].max() > 0]
    lengths = np.asarray([len(m) for m in train.mel])
    order = np.argsort(lengths, kind="stable")
    n_params = flow_recipe.write_config(run)
    print(f"train {len(train)} utterances ({train.seconds / 3600:.2f} h), dev {len(dev)}; "
          f"{n_params / 1e6:.2f} M parameters; voices with data {len(with_data)}/{len(config.speakers)}", flush=True)

    weights = LossWeights(args.w_duration, args.w_flow, args.w_prior, args.w_align)
    flow_recipe.train(run, order, lengths, make_batch=lambda index, g: batch_of(train, index),
                      loss=lambda batch, g: acoustic_loss(model, **batch, weights=weights, generator=g),
                      frames_key="mel_lengths", dev_metrics=lambda: dev_losses(model, dev, args, weights),
                      terms=TERMS, dev_terms=TERMS, state_extra={"voices_with_data": with_data, "stage": args.stage})
    if args.export_model_dir is not None:
        export_model_dir(args.exp, args.export_model_dir, **export_kw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
