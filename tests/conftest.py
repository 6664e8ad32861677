"""Shared test set-up: every test starts from the same random seeds, so a failure reproduces."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    random.seed(0)
    np.random.seed(0)
    if "torch" in sys.modules:  # never import torch just for this: runtime tests must stay torch-free
        sys.modules["torch"].manual_seed(0)
