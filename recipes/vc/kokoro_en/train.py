#!/usr/bin/env python3
"""Train the streaming voice-conversion model (speechstream.vc.torch) on the TTS recipe's prepared features.
Resumable: re-run the same command to continue from the newest checkpoint.

    python recipes/vc/kokoro_en/train.py --exp /work/exp/vc_kokoro --features /work/exp/tts_features
    python recipes/vc/kokoro_en/train.py --exp NEW --features F --init-from models/vc_en   # fresh optimizer
    python recipes/vc/kokoro_en/train.py --exp /work/exp/vc_kokoro --export-model-dir EXP/model --export-only \
        --features /work/exp/tts_features                              # export only (features: the voices)

One update (speechstream.vc.torch.losses.vc_loss): each utterance of the batch is the target; its source is the
same frames perturbed (speechstream.vc.torch.perturb: VTLP, gain; source and target stretched together in rate;
optionally a pseudo-speaker warp of target and reference); the reference is another utterance of the same
corpus speaker (a random crop of at most --max-ref-frames). The content encoder learns CTC on the utterance's
phoneme ids (punctuation and spaces left out) from the perturbed source; the decoder learns flow matching and
its prior on the unperturbed target, from the content (no gradient into the content encoder unless
--content-grad > 0) and the reference's embedding.

Batches: utterances sorted by length, a random window of neighbours per step (speechstream.train.flow_recipe,
the loop the TTS recipe runs too: at most --batch-size and --max-frames padded frames). Every random draw of
step n (batch, references, crops, perturbations, flow noise) comes from one generator seeded with (seed, n): a
resumed run continues exactly as an uninterrupted one (tests/test_vc_train_smoke.py). Dev losses use one fixed
generator; the dev phoneme error rate is greedy CTC on unperturbed dev sources.

Checkpoints (speechstream.train.checkpoint, no pickles): EXP/checkpoints/step-N/{model,optimizer}.safetensors +
state.json, written atomically every --save-minutes and at the end. EXP/train.csv and EXP/dev.csv log the losses.

--export-model-dir DIR writes the newest checkpoint as the model directory Converter.from_dir loads (config.json,
model.safetensors, the three graphs, voices.json: the built-in targets, each the mean embedding of up to
--voice-utts training utterances of each corpus speaker that is one Kokoro voice alone, named after it); with
--weights-only just config.json + model.safetensors (+ voices.json). The vocoder is not copied: the runtime uses
models/vocoder_en unless the directory has a vocoder/.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEV_SEED = 1234
TERMS = ("loss", "ctc", "flow", "prior")
NOT_PHONEMES = set(';:,.!?¡¿—…"«»“”()- ')  # Kokoro symbols that are not sounds: no CTC target


def tts_recipe():
    """The TTS recipe's train.py (its feature loader), loaded once."""
    name = "tts_kokoro_en_train"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "recipes" / "tts" / "kokoro_en" / "train.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", type=Path, required=True, help="experiment dir (created; resumed if it has checkpoints)")
    p.add_argument("--features", type=Path, help="the TTS recipe's prepare.py output (or this recipe's prepare.py)")
    m = p.add_argument_group("model (fresh runs only)")
    m.add_argument("--tiny", action="store_true", help="VCConfig.tiny(): a test-size model")
    m.add_argument("--init-from", type=Path, metavar="DIR",
                   help="start from a VC model dir (its config and weights; a new optimizer and schedule)")
    m.add_argument("--d-encoder", type=int)
    m.add_argument("--encoder-layers", type=int)
    m.add_argument("--d-decoder", type=int)
    m.add_argument("--decoder-layers", type=int)
    t = p.add_argument_group("training")
    t.add_argument("--max-steps", type=int, default=40_000, help="where the cosine schedule ends")
    t.add_argument("--stop-after", type=int, default=0,
                   help="end this run after this step as if interrupted (the schedule still ends at max-steps)")
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--max-frames", type=int, default=6000, help="at most this many padded frames per update")
    t.add_argument("--max-ref-frames", type=int, default=300, help="reference crop (frames)")
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--warmup-steps", type=int, default=300)
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--grad-clip", type=float, default=1.0)
    t.add_argument("--w-ctc", type=float, default=1.0)
    t.add_argument("--w-flow", type=float, default=1.0)
    t.add_argument("--w-prior", type=float, default=1.0)
    t.add_argument("--content-grad", type=float, default=0.0,
                   help="scale of the decoder's gradient into the content encoder (0: CTC alone trains it)")
    t.add_argument("--vtlp", type=float, default=0.15, help="source warp factor range 1 +- this")
    t.add_argument("--gain-db", type=float, default=6.0)
    t.add_argument("--rate", type=float, default=0.1, help="source + target rate range 1 +- this")
    t.add_argument("--target-warp", type=float, default=0.0, help="pseudo-speaker warp of target + reference")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--save-minutes", type=float, default=10.0)
    t.add_argument("--save-every", type=int, default=0, help="also checkpoint every N steps (0: off)")
    t.add_argument("--keep-last", type=int, default=3)
    t.add_argument("--log-every", type=int, default=20)
    t.add_argument("--dev-every", type=int, default=250)
    t.add_argument("--max-dev-utts", type=int, default=64)
    t.add_argument("--num-threads", type=int, default=1)
    e = p.add_argument_group("export")
    e.add_argument("--export-model-dir", type=Path, metavar="DIR",
                   help="write the newest checkpoint as a VC model directory (after training, if --features)")
    e.add_argument("--export-only", action="store_true",
                   help="export without training (--features, when given, only feeds the built-in voices)")
    e.add_argument("--weights-only", action="store_true", help="config.json + model.safetensors (+ voices) only")
    e.add_argument("--voice-utts", type=int, default=8, help="training utterances per built-in voice")
    return p.parse_args(argv)


# ---------------------------------------------------------------- data
def ctc_ids(ids: np.ndarray) -> np.ndarray:
    """Kokoro ids -> CTC targets: the sounds only (no punctuation or spaces)."""
    from speechstream.tts.phonemes import load_vocab

    if not hasattr(ctc_ids, "drop"):
        ctc_ids.drop = np.asarray(sorted(i for s, i in load_vocab().items() if s in NOT_PHONEMES), np.int64)
    return ids[~np.isin(ids, ctc_ids.drop)]


def speaker_index(data) -> tuple[list[str], list[list[int]]]:
    """Each utterance's corpus speaker -> (speaker of each utterance, utterances of each utterance's speaker)."""
    speakers = [r["speaker"] for r in data.rows]
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(speakers):
        groups.setdefault(s, []).append(i)
    return speakers, [groups[s] for s in speakers]


def make_batch(data, index: list[int], peers: list[list[int]], args: argparse.Namespace, g, perturb_config,
               perturbed: bool = True) -> dict:
    """vc_loss's keywords for these utterances: each one's reference is another utterance of its speaker."""
    import torch

    from speechstream.vc.config import PAD_FEATURE
    from speechstream.vc.torch.perturb import perturb

    sources, targets, refs, ids = [], [], [], []
    for i in index:
        others = [j for j in peers[i] if j != i] or [i]
        j = others[int(torch.randint(len(others), (1,), generator=g))]
        ref = data.mel[j]
        start = int(torch.randint(max(1, len(ref) - args.max_ref_frames + 1), (1,), generator=g))
        ref = torch.from_numpy(ref[start:start + args.max_ref_frames].astype(np.float32))
        mel = torch.from_numpy(data.mel[i].astype(np.float32))
        if perturbed:
            source, target, ref = perturb(mel, ref, perturb_config, g)
        else:
            source, target = mel, mel
        sources.append(source)
        targets.append(target)
        refs.append(ref)
        ids.append(torch.from_numpy(ctc_ids(data.ids[i])))

    def pad(seqs: list, value: float) -> torch.Tensor:
        out = torch.full((len(seqs), max(len(s) for s in seqs), *seqs[0].shape[1:]), value, dtype=seqs[0].dtype)
        for k, s in enumerate(seqs):
            out[k, :len(s)] = s
        return out

    return {"source": pad(sources, PAD_FEATURE), "target": pad(targets, PAD_FEATURE),
            "lengths": torch.tensor([len(s) for s in sources]), "reference": pad(refs, PAD_FEATURE),
            "reference_lengths": torch.tensor([len(r) for r in refs]), "ids": pad(ids, 0),
            "id_lengths": torch.tensor([len(x) for x in ids])}


def greedy_errors(logits, lengths, ids, id_lengths) -> tuple[int, int]:
    """Greedy CTC on a batch -> (edit distance to the targets, target length), summed."""
    best = logits.argmax(-1).numpy()
    errors = total = 0
    for b in range(best.shape[0]):
        path = best[b, :int(lengths[b])]
        hyp = [int(p) for k, p in enumerate(path) if p != 0 and (k == 0 or p != path[k - 1])]
        ref = ids[b, :int(id_lengths[b])].tolist()
        row = list(range(len(hyp) + 1))
        for r in ref:
            prev, row[0] = row[0], row[0] + 1
            for k, h in enumerate(hyp, 1):
                prev, row[k] = row[k], min(row[k] + 1, row[k - 1] + 1, prev + (r != h))
        errors += row[-1]
        total += len(ref)
    return errors, total


def dev_metrics(model, dev, peers, args: argparse.Namespace, weights, perturb_config) -> dict[str, float]:
    """Mean losses (perturbed sources, one fixed generator) and greedy-CTC PER (clean sources) on the first
    --max-dev-utts dev utterances (the first len(peers) rows of `dev`)."""
    import torch

    from speechstream.vc.torch.losses import frame_mask, vc_loss

    n = min(len(peers), args.max_dev_utts)
    order = sorted(range(n), key=lambda i: len(dev.mel[i]))
    g = torch.Generator().manual_seed(DEV_SEED)
    sums, errors, total = dict.fromkeys(TERMS, 0.0), 0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for a in range(0, n, args.batch_size):
            index = order[a:a + args.batch_size]
            terms = vc_loss(model, **make_batch(dev, index, peers, args, g, perturb_config), weights=weights,
                            generator=g)
            for k in TERMS:
                sums[k] += terms[k].item() * len(index)
            clean = make_batch(dev, index, peers, args, g, perturb_config, perturbed=False)
            content = model.content(clean["source"]) * frame_mask(clean["lengths"], clean["source"].size(1))[..., None]
            e, t = greedy_errors(model.content.logits(content), clean["lengths"], clean["ids"], clean["id_lengths"])
            errors, total = errors + e, total + t
    model.train(was_training)
    out = {k: v / max(1, n) for k, v in sums.items()}
    out["per"] = errors / max(1, total)
    return out


# ---------------------------------------------------------------- model and export
def make_config(args: argparse.Namespace):
    from speechstream.vc.config import VCConfig

    kw = {name: getattr(args, name) for name in ("d_encoder", "encoder_layers", "d_decoder", "decoder_layers")
          if getattr(args, name) is not None}
    return VCConfig.tiny(**kw) if args.tiny else VCConfig(**kw)


def builtin_voices(model, features: Path, per_voice: int) -> dict[str, list[float]]:
    """name -> mean target embedding of up to per_voice training utterances of each single-voice corpus speaker
    (several speakers of one voice pool their utterances)."""
    import torch

    data = tts_recipe().load_split(features, "train")
    by_voice: dict[str, list[int]] = {}
    for i, r in enumerate(data.rows):
        if len(r["voices"]) == 1:
            by_voice.setdefault(r["voices"][0], []).append(i)
    out = {}
    with torch.no_grad():
        for name, rows in sorted(by_voice.items()):
            embs = [model.embed(torch.from_numpy(data.mel[i].astype(np.float32))[None])[0] for i in rows[:per_voice]]
            out[name] = torch.stack(embs).mean(0).tolist()
    return out


def export_model_dir(exp: Path, out: Path, features: Path | None, weights_only: bool = False,
                     voice_utts: int = 8) -> Path:
    """The newest checkpoint of `exp` as a VC model directory in `out`."""
    from speechstream.train.flow_recipe import card_head, export_extra, load_newest
    from speechstream.vc.config import VCConfig
    from speechstream.vc.model_dir import CARD
    from speechstream.vc.torch.checkpoint import save_vc_dir
    from speechstream.vc.torch.model import VCModel

    ckpt, state, config, model = load_newest(exp, VCConfig, VCModel)
    model.eval()
    voices = builtin_voices(model, features, voice_utts) if features is not None else None
    extra = export_extra(ckpt, state)
    card = None
    if not (out / CARD).exists():  # never overwrite a card someone wrote
        card = (card_head(out, "Streaming voice conversion", "recipes/vc/kokoro_en/train.py", exp, ckpt, extra,
                          model, config)
                + f"- latency {config.latency()['latency_ms']:g} ms before the vocoder's (content look-ahead {config.content_lookahead}, chunk "
                f"{config.chunk_frames}, decoder look-ahead {config.decoder_lookahead} frames)\n"
                f"- built-in voices: {', '.join(voices) if voices else 'none'}\n"
                "- evaluation: (to be written; recipes/vc/kokoro_en/evaluate.py)\n")
    save_vc_dir(model, out, voices=voices, model_card=card, extra=extra, graphs=not weights_only)
    print(f"wrote {out} from {ckpt}", flush=True)
    return out


# ---------------------------------------------------------------- training
def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)
    if args.features is None or args.export_only:
        if args.export_model_dir is None:
            raise SystemExit("give --features to train, or --export-model-dir to export")
        export_model_dir(args.exp, args.export_model_dir, args.features, args.weights_only, args.voice_utts)
        return 0
    from speechstream.train import flow_recipe
    from speechstream.vc.config import VCConfig
    from speechstream.vc.torch.checkpoint import load_vc
    from speechstream.vc.torch.losses import LossWeights, vc_loss
    from speechstream.vc.torch.model import VCModel
    from speechstream.vc.torch.perturb import PerturbConfig

    tts = tts_recipe()
    run = flow_recipe.start_run(args, VCConfig, VCModel, make_config, load_vc)
    model, config = run.model, run.config

    train, dev = tts.load_split(args.features, "train"), tts.load_split(args.features, "dev")
    _, train_peers = speaker_index(train)
    train_by_speaker: dict[str, list[int]] = {}
    for i, r in enumerate(train.rows):
        train_by_speaker.setdefault(r["speaker"], []).append(i)
    lengths = np.asarray([len(m) for m in train.mel])
    order = np.argsort(lengths, kind="stable")
    n_params = flow_recipe.write_config(run)
    print(f"train {len(train)} utterances ({train.seconds / 3600:.2f} h, {len(train_by_speaker)} speakers), "
          f"dev {len(dev)}; {n_params / 1e6:.2f} M parameters; latency {config.latency()['latency_ms']:g} ms "
          "before the vocoder", flush=True)

    weights = LossWeights(args.w_ctc, args.w_flow, args.w_prior)
    perturb_config = PerturbConfig(args.vtlp, args.gain_db, args.rate, args.target_warp)
    dev_set = DevSet(train, dev, train_by_speaker)
    flow_recipe.train(
        run, order, lengths, make_batch=lambda index, g: make_batch(train, index, train_peers, args, g, perturb_config),
        loss=lambda batch, g: vc_loss(model, **batch, weights=weights, content_grad=args.content_grad, generator=g),
        frames_key="lengths",
        dev_metrics=lambda: dev_metrics(model, dev_set.data, dev_set.peers, args, weights, perturb_config),
        terms=TERMS, dev_terms=(*TERMS, "per"))
    if args.export_model_dir is not None:
        export_model_dir(args.exp, args.export_model_dir, args.features, args.weights_only, args.voice_utts)
    return 0


class DevSet:
    """The dev utterances with references from their speakers' training utterances (every corpus sentence is
    spoken once, so a dev sentence's speaker has its other utterances in train): one split holding both, the
    dev rows first, so make_batch draws references by index."""

    def __init__(self, train, dev, train_by_speaker: dict[str, list[int]]) -> None:
        n = len(dev)
        self.data = type(dev)(ids=list(dev.ids) + list(train.ids), mel=list(dev.mel) + list(train.mel),
                              voice=np.concatenate([dev.voice, train.voice]),
                              speed=np.concatenate([dev.speed, train.speed]), rows=list(dev.rows) + list(train.rows),
                              speakers=dev.speakers)
        self.peers = [[n + j for j in train_by_speaker.get(r["speaker"], [])] or [i] for i, r in enumerate(dev.rows)]


if __name__ == "__main__":
    sys.exit(main())
