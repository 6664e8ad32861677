"""Cache-aware streaming Conformer encoder: ``forward`` (offline, chunk-masked) equals ``step`` (streaming).

Shapes: B batch, T feature frames, F feature bins (80), T' = ceil(T / f) encoder frames, f subsampling
factor, D model dim, L layers, P pre-encode cache frames, Lc attention cache frames, K conv kernel,
C feature frames per step, c = C / f encoder frames per step.

State (fixed four tensors, batch first, stacked over layers, so streams stack into one batch):
  pre_encode_cache (B, P, F)       last P feature frames (pad_feature initially: the offline left padding)
  cache_last_channel (B, L, Lc, 2D) per layer, attention keys and values of the last Lc frames,
                                    right-aligned (NeMo caches the attention input, (B, L, Lc, D))
  cache_last_time (B, L, D, K-1)    per layer, conv-module depthwise input of the last K-1 frames
  cache_last_channel_len (B,) int64 valid frames in cache_last_channel, min(frames seen, Lc)

Streaming contract: each ``step`` is one attention chunk; feed ``chunk_frames(att_context)`` new frames
per step, starting at the stream start, for output identical to ``forward(..., att_context)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from speechstream.asr.config import AttContext, ConformerConfig
from speechstream.nn.attention import chunked_attention_mask, relative_positions, streaming_attention_mask
from speechstream.nn.conformer import ConformerLayer
from speechstream.nn.subsampling import CausalConvSubsampling

EncoderState = tuple[Tensor, Tensor, Tensor, Tensor]


class ConformerEncoder(nn.Module):
    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        self.config = config
        self.subsampling = CausalConvSubsampling(config.feat_dim, config.subsampling_channels, config.d_model,
                                                 config.subsampling_factor, config.pad_feature)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(
            ConformerLayer(config.d_model, config.num_heads, config.ff_mult, config.conv_kernel,
                           config.max_rel_pos, config.dropout) for _ in range(config.num_layers))
        self.norm_out = nn.LayerNorm(config.d_model)  # the layers are pre-norm: one norm closes the stack

    # ---- derived sizes: the runtime and export read these, nothing is hard-coded ----
    @property
    def subsampling_factor(self) -> int:
        return self.subsampling.factor

    @property
    def pre_encode_cache_frames(self) -> int:
        """P: feature frames the subsampler needs before a chunk (a multiple of the factor)."""
        return self.subsampling.cache_frames

    @property
    def att_cache_frames(self) -> int:
        return self.config.att_cache_frames

    @property
    def att_cache_dim(self) -> int:
        """Width of a cached attention frame (its key and value)."""
        return self.layers[0].att.cache_dim

    @property
    def conv_cache_frames(self) -> int:
        return self.config.conv_kernel - 1

    def chunk_frames(self, att_context: int | AttContext | None = None) -> int:
        """New feature frames per step: (right + 1) * subsampling factor."""
        _, right = self.config.resolve_att_context(att_context)
        return (right + 1) * self.subsampling_factor

    def latency_ms(self, att_context: int | AttContext | None = None) -> float:
        """Algorithmic latency of the encoder: the first frame of a chunk waits for the whole chunk.

        The subsampler and conv are causal and attention sees nothing past its chunk, so this is the
        chunk length. The feature window's own look-ahead (e.g. 25 ms window at 10 ms shift) is added
        by the recognizer, which knows the front end.
        """
        return self.chunk_frames(att_context) * self.config.frame_shift_ms

    def output_lengths(self, lengths: Tensor) -> Tensor:
        return self.subsampling.output_lengths(lengths)

    # ---- offline ----
    def forward(self, feats: Tensor, lengths: Tensor, att_context: int | AttContext | None = None
                ) -> tuple[Tensor, Tensor]:
        """feats (B, T, F), lengths (B,) -> enc (B, T', D), enc_lengths (B,). Frames past a length are junk."""
        left, right = self.config.resolve_att_context(att_context)
        x, enc_lengths = self.subsampling(feats, lengths)
        x = self.dropout(x)
        mask = chunked_attention_mask(x.size(1), enc_lengths, left, right)
        rel_pos = relative_positions(x.size(1), 0, self.config.max_rel_pos, x.device)
        for layer in self.layers:
            x = layer(x, mask, rel_pos)
        return self.norm_out(x), enc_lengths

    # ---- streaming ----
    def init_state(self, batch_size: int, device: torch.device | None = None) -> EncoderState:
        c = self.config
        return (self.subsampling.init_state(batch_size, c.feat_dim, device),
                torch.zeros(batch_size, c.num_layers, self.att_cache_frames, self.att_cache_dim, device=device),
                torch.zeros(batch_size, c.num_layers, c.d_model, self.conv_cache_frames, device=device),
                torch.zeros(batch_size, dtype=torch.int64, device=device))

    def step(self, feats: Tensor, state: EncoderState, att_context: int | AttContext | None = None,
             lengths: Tensor | None = None) -> tuple[Tensor, EncoderState]:
        """feats (B, C, F) new frames (C a multiple of f), state -> enc (B, C/f, D), new state.

        lengths (B,): valid new frames per stream, only for a padded last chunk of a stream (its outputs
        past ceil(lengths / f) are junk, and so is the returned state). Without it, frames are all valid. Traceable for ONNX export: no
        Python branches on tensor values; C may be dynamic.
        """
        pre_cache, att_cache, conv_cache, cache_len = state
        x, pre_cache = self.subsampling.step(feats, pre_cache, lengths)
        y, att_cache, conv_cache, cache_len = self._step_encoded(x, att_cache, conv_cache, cache_len,
                                                                 att_context, lengths)
        return y, (pre_cache, att_cache, conv_cache, cache_len)

    def step_window(self, window: Tensor, att_cache: Tensor, conv_cache: Tensor, cache_len: Tensor,
                    att_context: int | AttContext | None = None, lengths: Tensor | None = None
                    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The sherpa-onnx form: window (B, P + C, F) overlapping the previous by P frames -> enc (B, C/f, D)
        and the three layer caches; equals ``step`` when the window is [pre_encode_cache; feats] (a padded
        last chunk must then be padded with pad_feature by the caller)."""
        x = self.subsampling.step_window(window)
        return self._step_encoded(x, att_cache, conv_cache, cache_len, att_context, lengths)

    def _step_encoded(self, x: Tensor, att_cache: Tensor, conv_cache: Tensor, cache_len: Tensor,
                      att_context: int | AttContext | None, lengths: Tensor | None
                      ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        left, _ = self.config.resolve_att_context(att_context)
        valid = None if lengths is None else self.output_lengths(lengths)
        mask = streaming_attention_mask(self.att_cache_frames, x, cache_len, left, valid)
        rel_pos = relative_positions(x.size(1), self.att_cache_frames, self.config.max_rel_pos, x.device)
        new_att, new_conv = [], []
        for i, layer in enumerate(self.layers):
            x, a, c = layer.step(x, att_cache[:, i], conv_cache[:, i], mask, rel_pos)
            new_att.append(a)
            new_conv.append(c)
        new_len = (cache_len + x.size(1)).clamp(max=self.att_cache_frames)
        return self.norm_out(x), torch.stack(new_att, dim=1), torch.stack(new_conv, dim=1), new_len
