"""Atomic, pickle-free training checkpoints: model + optimizer tensors in safetensors, the rest in JSON.

A checkpoint is a directory ``<exp>/checkpoints/<name>/`` holding

  model.safetensors      the model's state_dict
  optimizer.safetensors  every tensor of the optimizer's state_dict (moments, step counters)
  state.json             the optimizer's non-tensor structure (param groups, hyper-parameters) with
                         references to those tensors, plus the caller's ``train_state`` (step, epoch,
                         batches done in the epoch, scheduler position, model config, ...)
  NAME.safetensors, NAME_optimizer.safetensors
                         optional extra modules trained alongside (a GAN's discriminator), by name

It is written to ``<name>.tmp`` and renamed, then ``checkpoints/latest`` (a text file naming it) is
replaced the same way, so a ``kill -9`` at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

_TENSOR = "__tensor__"
_ITEMS = "__items__"  # a dict whose keys are not all strings (the optimizer's int parameter ids)
_TUPLE = "__tuple__"  # kept apart from lists so a restored state equals the saved one (Adam's betas)


def _flatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """A JSON-able copy of `obj`; each tensor is moved to `tensors` and replaced by a reference."""
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().to("cpu").contiguous()
        return {_TENSOR: key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _flatten(v, tensors) for k, v in obj.items()}
        return {_ITEMS: [[k, _flatten(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {_TUPLE: [_flatten(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_flatten(v, tensors) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint without pickling")


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_TENSOR}:
            return tensors[obj[_TENSOR]]
        if set(obj) == {_TUPLE}:
            return tuple(_unflatten(v, tensors) for v in obj[_TUPLE])
        if set(obj) == {_ITEMS}:
            return {k: _unflatten(v, tensors) for k, v in obj[_ITEMS]}
        return {k: _unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


Extras = dict[str, tuple[torch.nn.Module, "torch.optim.Optimizer | None"]]


def _files(name: str | None) -> tuple[str, str]:
    """(weights, optimizer) file names of the main model (None) or of an extra module."""
    return ("model.safetensors", "optimizer.safetensors") if name is None else \
        (f"{name}.safetensors", f"{name}_optimizer.safetensors")


def _save_module(path: Path, name: str | None, model: torch.nn.Module,
                 optimizer: torch.optim.Optimizer | None) -> Any:
    """Writes the module's weights (and optimizer tensors); returns the optimizer's JSON structure."""
    weights, opt_file = _files(name)
    save_file({k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}, str(path / weights))
    tensors: dict[str, torch.Tensor] = {}
    struct = _flatten(optimizer.state_dict(), tensors) if optimizer is not None else None
    if tensors:
        save_file(tensors, str(path / opt_file))
    return struct


def save_checkpoint(ckpt_root: str | Path, name: str, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None, train_state: dict[str, Any],
                    keep_last: int = 3, keep_prefix: str = "step-", extras: Extras | None = None) -> Path:
    """Writes ``ckpt_root/name`` atomically and points ``latest`` at it; returns its path.

    Only the newest `keep_last` checkpoints whose names start with `keep_prefix` are kept (periodic ones);
    others (e.g. ``epoch-3``) stay for averaging.
    """
    root = Path(ckpt_root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    tmp = root / (name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    state = {"train_state": train_state, "optimizer": _save_module(tmp, None, model, optimizer),
             "extras": {k: _save_module(tmp, k, m, o) for k, (m, o) in (extras or {}).items()}}
    (tmp / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
    for f in tmp.iterdir():  # the data must be on disk before the rename makes it visible
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():  # re-saving the same name (e.g. an epoch end after a resume): replace it
        old = root / (name + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)
    _write_text_atomic(root / "latest", name + "\n")
    periodic = sorted((p for p in root.iterdir() if p.is_dir() and p.name.startswith(keep_prefix)
                       and not p.name.endswith((".tmp", ".old"))), key=lambda p: p.stat().st_mtime)
    for p in periodic[:-keep_last] if keep_last > 0 else []:
        if p != final:
            shutil.rmtree(p, ignore_errors=True)
    return final


def latest_checkpoint(ckpt_root: str | Path) -> Path | None:
    """The checkpoint ``latest`` names, or None when there is none yet."""
    root = Path(ckpt_root)
    ptr = root / "latest"
    if not ptr.is_file():
        return None
    path = root / ptr.read_text(encoding="utf-8").strip()
    return path if (path / "state.json").is_file() else None


def load_train_state(ckpt: str | Path) -> dict[str, Any]:
    return json.loads((Path(ckpt) / "state.json").read_text(encoding="utf-8"))["train_state"]


def load_model_weights(ckpt: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    return load_file(str(Path(ckpt) / "model.safetensors"), device=str(device))


def _load_optimizer(optimizer: torch.optim.Optimizer | None, struct: Any, opt_file: Path) -> None:
    if optimizer is not None and struct is not None:
        # On the CPU: load_state_dict moves moments to each parameter's device but keeps "step" where it
        # finds it, and non-fused Adam wants its step counters on the CPU.
        tensors = load_file(str(opt_file), device="cpu") if opt_file.is_file() else {}
        optimizer.load_state_dict(_unflatten(struct, tensors))


def load_checkpoint(ckpt: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                    extras: Extras | None = None) -> dict[str, Any]:
    """Restores model (and optimizer) in place, and those of `extras` the checkpoint holds (the others keep
    their fresh state: a GAN run resumed from a checkpoint without a discriminator starts one; see
    checkpoint_extras); returns the saved train_state."""
    ckpt = Path(ckpt)
    device = next(model.parameters()).device
    model.load_state_dict(load_model_weights(ckpt, device))
    state = json.loads((ckpt / "state.json").read_text(encoding="utf-8"))
    _load_optimizer(optimizer, state["optimizer"], ckpt / _files(None)[1])
    for name, (module, opt) in (extras or {}).items():
        if name in state.get("extras", {}):
            weights, opt_file = _files(name)
            module.load_state_dict(load_file(str(ckpt / weights), device=str(device)))
            _load_optimizer(opt, state["extras"][name], ckpt / opt_file)
    return state["train_state"]


def checkpoint_extras(ckpt: str | Path) -> list[str]:
    """The names of the extra modules a checkpoint holds."""
    return list(json.loads((Path(ckpt) / "state.json").read_text(encoding="utf-8")).get("extras", {}))


def average_weights(ckpts: list[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the models' float weights (integer buffers come from the last one)."""
    avg: dict[str, torch.Tensor] = {}
    for i, c in enumerate(ckpts):
        w = load_model_weights(c)
        for k, v in w.items():
            if i == 0 or not v.is_floating_point():
                avg[k] = v.double() if v.is_floating_point() else v
            else:
                avg[k] += v.double()
    n = len(ckpts)
    return {k: (v / n).float() if v.is_floating_point() else v for k, v in avg.items()}
