"""ASR model: one cache-aware Conformer encoder with a CTC head and an RNN-T (stateless predictor + joiner).

Shapes: B batch, T feature frames, F feature bins, T' encoder frames, U target tokens, V vocabulary
(blank = V - 1), D encoder dim.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from speechstream.asr.config import ASRModelConfig, AttContext

from .encoder import ConformerEncoder
from .heads import CTCHead, Joiner, StatelessPredictor


class ASRModel(nn.Module):
    def __init__(self, config: ASRModelConfig) -> None:
        super().__init__()
        self.config = config
        d = config.encoder.d_model
        self.encoder = ConformerEncoder(config.encoder)
        self.ctc = CTCHead(d, config.vocab_size)
        self.predictor = StatelessPredictor(config.vocab_size, config.d_pred, config.context_size)
        self.joiner = Joiner(d, config.d_pred, config.d_join, config.vocab_size)

    @property
    def blank_id(self) -> int:
        return self.config.blank_id

    def forward(self, feats: Tensor, feat_lens: Tensor, att_context: int | AttContext | None = None
                ) -> tuple[Tensor, Tensor]:
        """feats (B, T, F), feat_lens (B,) -> enc (B, T', D), enc_lens (B,)."""
        return self.encoder(feats, feat_lens, att_context)

    def loss(self, feats: Tensor, feat_lens: Tensor, targets: Tensor, target_lens: Tensor,
             att_context: int | AttContext | None = None) -> dict[str, Tensor]:
        """Per-utterance losses averaged over the batch: {'ctc', 'rnnt', 'total'}.

        targets (B, U) padded token ids (padding values are ignored), target_lens (B,).
        total = ctc_weight * ctc + (1 - ctc_weight) * rnnt; with ctc_weight 1 the RNN-T loss is not computed (0).
        """
        import torchaudio.functional as taf  # heavy; only training needs it

        enc, enc_lens = self.encoder(feats, feat_lens, att_context)
        u = torch.arange(targets.size(1), device=targets.device)
        # Padding may hold any value (e.g. -1); make it a harmless in-range id.
        targets = targets.masked_fill(u[None, :] >= target_lens[:, None], 0).long()
        blank = self.blank_id

        log_probs = self.ctc(enc)  # (B, T', V)
        ctc = nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, enc_lens, target_lens,
                                     blank=blank, reduction="sum", zero_infinity=True) / feats.size(0)

        w = self.config.ctc_weight
        if w >= 1.0:  # CTC alone: the (B, T', U + 1, V) joint is the costliest tensor of a step; skip it
            return {"ctc": ctc, "rnnt": torch.zeros_like(ctc), "total": ctc}
        pred = self.predictor(targets)  # (B, U + 1, Dp)
        logits = self.joiner(enc[:, :, None], pred[:, None])  # (B, T', U + 1, V)
        # torchaudio's kernel takes float32 / float16 only: under bf16 autocast the joint comes out bf16
        rnnt = taf.rnnt_loss(logits.float(), targets.int(), enc_lens.int(), target_lens.int(), blank=blank,
                             reduction="mean")
        return {"ctc": ctc, "rnnt": rnnt, "total": w * ctc + (1.0 - w) * rnnt}
