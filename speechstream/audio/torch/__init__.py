"""The torch half of speechstream.audio: what training needs in torch (fbank: the batched log-mel Fbank,
equal to the numpy one row by row). It imports the numpy half, never the reverse."""
