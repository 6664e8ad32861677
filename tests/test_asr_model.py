"""ASR model: CTC / RNN-T losses, predictor streaming, joiner broadcasting, config round trip."""

from __future__ import annotations

import json
import math

import torch

from speechstream.asr.config import ASRModelConfig
from speechstream.asr.torch.heads import Joiner, StatelessPredictor
from speechstream.asr.torch.model import ASRModel

torch.set_num_threads(1)


def test_losses_finite_and_backprop() -> None:
    torch.manual_seed(0)
    cfg = ASRModelConfig.tiny()
    model = ASRModel(cfg).train()
    feats = torch.randn(3, 200, 80)
    feat_lens = torch.tensor([200, 150, 97])
    targets = torch.tensor([[1, 2, 3, 4], [5, 5, -1, -1], [0, -1, -1, -1]])  # -1: padding
    target_lens = torch.tensor([4, 2, 1])
    for ctx in cfg.encoder.att_contexts:
        model.zero_grad()
        losses = model.loss(feats, feat_lens, targets, target_lens, ctx)
        assert set(losses) == {"ctc", "rnnt", "total"}
        for v in losses.values():
            assert v.dim() == 0 and torch.isfinite(v) and v.item() > 0
        w = cfg.ctc_weight
        assert math.isclose(losses["total"].item(), w * losses["ctc"].item() + (1 - w) * losses["rnnt"].item(),
                            rel_tol=1e-5)
        losses["total"].backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert model.encoder.subsampling.out.weight.grad.abs().sum() > 0
        assert model.predictor.embedding.weight.grad.abs().sum() > 0


def test_hybrid_loss_under_bf16_autocast_matches_float32() -> None:
    """The recipe's --bf16: torchaudio's RNN-T kernel takes no bf16, so the joint is cast back; the hybrid
    loss stays within bf16 rounding of the float32 one."""
    torch.manual_seed(0)
    model = ASRModel(ASRModelConfig.tiny()).eval()
    feats, feat_lens = torch.randn(2, 120, 80), torch.tensor([120, 90])
    targets, target_lens = torch.tensor([[1, 2, 3], [4, 5, -1]]), torch.tensor([3, 2])
    ctx = model.config.encoder.att_contexts[0]
    ref = model.loss(feats, feat_lens, targets, target_lens, ctx)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model.loss(feats, feat_lens, targets, target_lens, ctx)
    for k in ("ctc", "rnnt", "total"):
        assert torch.isfinite(low[k]) and abs(low[k].item() - ref[k].item()) < 0.05 * ref[k].item(), k


def test_ctc_alone_skips_rnnt_and_keeps_the_ctc_loss() -> None:
    """ctc_weight 1: total == the hybrid model's CTC term, RNN-T reported as 0, heads left without gradient."""
    import dataclasses

    torch.manual_seed(0)
    hybrid = ASRModel(ASRModelConfig.tiny()).eval()
    ctc_only = ASRModel(dataclasses.replace(hybrid.config, ctc_weight=1.0)).eval()
    ctc_only.load_state_dict(hybrid.state_dict())
    feats, lens = torch.randn(2, 120, 80), torch.tensor([120, 90])
    targets, tl = torch.tensor([[1, 2, 3], [4, 5, -1]]), torch.tensor([3, 2])
    ref = hybrid.loss(feats, lens, targets, tl, 0)
    got = ctc_only.loss(feats, lens, targets, tl, 0)
    assert got["rnnt"].item() == 0 and torch.equal(got["total"], got["ctc"])
    torch.testing.assert_close(got["ctc"], ref["ctc"])
    got["total"].backward()
    assert all(p.grad is None for p in ctc_only.joiner.parameters())


def test_loss_ignores_padding() -> None:
    """Padding of feats and targets past their lengths does not change the losses."""
    torch.manual_seed(1)
    model = ASRModel(ASRModelConfig.tiny()).eval()
    feats = torch.randn(2, 120, 80)
    lens, tl = torch.tensor([120, 70]), torch.tensor([3, 2])
    targets = torch.tensor([[1, 2, 3], [4, 5, 0]])
    with torch.no_grad():
        a = model.loss(feats, lens, targets, tl, 0)
        feats2 = feats.clone()
        feats2[1, 70:] = 5.0
        b = model.loss(feats2, lens, torch.tensor([[1, 2, 3], [4, 5, 9]]), tl, 0)
        first = model.loss(feats[:1], lens[:1], targets[:1], tl[:1], 0)
        second = model.loss(feats[1:, :70], lens[1:], targets[1:, :2], tl[1:], 0)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
        # Per-utterance losses averaged over the batch, each utterance as if alone.
        torch.testing.assert_close(a[k], (first[k] + second[k]) / 2, rtol=1e-5, atol=1e-5)


def test_ctc_loss_matches_brute_force_on_tiny_case() -> None:
    """The CTC head's loss against an independent sum over all alignments (T=3, V=3, blank=2)."""
    import itertools

    torch.manual_seed(2)
    lp = torch.randn(3, 3).log_softmax(-1)
    total = []
    for path in itertools.product(range(3), repeat=3):
        collapsed = [k for k, _ in itertools.groupby(path) if k != 2]
        if collapsed == [0, 1]:
            total.append(sum(lp[t, s] for t, s in enumerate(path)))
    ref = -torch.logsumexp(torch.stack(total), 0)
    got = torch.nn.functional.ctc_loss(lp[:, None], torch.tensor([[0, 1]]), torch.tensor([3]),
                                       torch.tensor([2]), blank=2, reduction="sum")
    torch.testing.assert_close(got, ref)


def test_predictor_step_equals_forward() -> None:
    torch.manual_seed(3)
    for ctx_size in (1, 2, 3):
        pred = StatelessPredictor(vocab_size=9, d_pred=8, context_size=ctx_size).eval()
        y = torch.randint(0, 8, (2, 6))
        full = pred(y)  # (B, U + 1, Dp)
        assert full.shape == (2, 7, 8)
        history = torch.full((2, ctx_size), 8)  # blank-padded start
        for u in range(7):
            torch.testing.assert_close(pred.step(history), full[:, u], rtol=0, atol=1e-6)
            if u < 6:
                history = torch.cat([history[:, 1:], y[:, u:u + 1]], 1)


def test_predictor_depends_only_on_last_tokens() -> None:
    pred = StatelessPredictor(vocab_size=9, d_pred=8, context_size=2)
    with torch.no_grad():
        pred.conv.weight.normal_()
    a = pred(torch.tensor([[1, 2, 3, 4]]))
    b = pred(torch.tensor([[7, 6, 3, 4]]))
    torch.testing.assert_close(a[:, 4], b[:, 4])
    assert (a[:, 3] - b[:, 3]).abs().max() > 0


def test_joiner_broadcasts() -> None:
    j = Joiner(6, 5, 7, 11)
    enc, pred = torch.randn(2, 4, 6), torch.randn(2, 3, 5)
    full = j(enc[:, :, None], pred[:, None])
    assert full.shape == (2, 4, 3, 11)
    torch.testing.assert_close(full[1, 2, 1], j(enc[1, 2], pred[1, 1]))


def test_model_config_round_trip() -> None:
    cfg = ASRModelConfig.tiny()
    again = ASRModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.blank_id == cfg.vocab_size - 1
