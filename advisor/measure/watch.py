"""Watching a training loop that is not ours, through PyTorch's global hooks.

- every optimizer step: `torch.optim.optimizer.register_optimizer_step_post_hook`;
- every DataLoader pass and batch: the base iterator class that torch's, Lightning's and
  fastai's loaders all iterate with, so the time spent waiting for each batch is measured;
- the model: the first module called after a step is the top one (children run inside it);
  its input gives the batch shape, and its forward is timed on the host.

Nothing synchronises a GPU: step times are host timestamps, and over a window of steps their
mean is what the GPU sustains, as training runs it.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable

from advisor.model.tracking import LoaderPass, Observation


class Tracker:
    """Install, let the training run, read `observation()`; `uninstall()` restores torch."""

    def __init__(self, timer: Callable[[], float] = time.perf_counter,
                 on_step: Callable[[Tracker], None] | None = None):
        self.timer = timer
        self.on_step = on_step
        self.t0 = timer()
        self._lock = threading.Lock()
        self._steps: list[float] = []
        self._passes: list[dict] = []
        self._by_iter: dict[int, dict] = {}
        self._lengths: dict[int, int] = {}
        self._batch_sizes: dict[int, int] = {}  # each loader's batch, where it batches itself
        self._loader_ids: dict[int, int] = {}
        self._waits: list[tuple[float, float]] = []
        self._forward: list[float] = []
        self._model = None
        self._fwd_start: float | None = None
        self._handles: list = []
        self._global_forward = None
        self._paused = False
        self.frozen = False  # steps from now on train a frozen body (set by the fastai callback)
        self.train_batches_per_epoch: int | None = None
        self._frozen_steps: list[bool] = []
        self._current: dict | None = None  # the pass whose batch was drawn last
        self._restore: list[tuple[object, str, object]] = []
        self._shape = self._batch = None
        self._device: str | None = None
        self._precision = "fp32"

    # -- hooks --------------------------------------------------------------------------------

    def install(self) -> Tracker:
        import torch
        from torch.optim.optimizer import register_optimizer_step_post_hook
        from torch.utils.data import dataloader as dl

        self._handles.append(register_optimizer_step_post_hook(self._after_step))
        self._global_forward = torch.nn.modules.module.register_module_forward_pre_hook(self._first_forward)
        tracker = self
        base = dl._BaseDataLoaderIter
        init, nxt = base.__init__, base.__next__

        def __init__(it, loader, *args, **kwargs):
            init(it, loader, *args, **kwargs)
            tracker._pass_started(it, loader)

        def __next__(it):
            start = tracker.timer()
            try:
                return nxt(it)
            except StopIteration:
                tracker._pass_ended(it)
                raise
            finally:
                tracker._batch_waited(it, start)

        reset = base._reset

        def _reset(it, loader=None, first_iter=False):
            reset(it, loader, first_iter) if loader is not None else reset(it)
            if loader is not None and not first_iter:  # a persistent-workers iterator reused: a new pass
                tracker._pass_started(it, loader, reused=True)

        self._patch(base, "__init__", __init__)
        self._patch(base, "__next__", __next__)
        self._patch(base, "_reset", _reset)
        loader_init = dl.DataLoader.__init__

        def loader_made(loader, *args, **kwargs):
            loader_init(loader, *args, **kwargs)
            with tracker._lock:
                tracker._loader_id(loader)  # a validation loader is known before its first pass

        self._patch(dl.DataLoader, "__init__", loader_made)
        self._watch_fastai()
        return self

    def _watch_fastai(self) -> None:
        """fastai steps an optimizer of its own (not torch.optim's): its step is patched too,
        now if fastai is imported, else when the script imports it."""
        import importlib.abc
        import importlib.util
        import sys

        if "fastai.optimizer" in sys.modules:
            self._patch_fastai(sys.modules["fastai.optimizer"])
            return
        tracker = self

        class _Finder(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name != "fastai.optimizer":
                    return None
                sys.meta_path.remove(self)
                spec = importlib.util.find_spec(name)
                if spec is None or spec.loader is None:
                    return spec
                run = spec.loader.exec_module

                def exec_module(module):
                    run(module)
                    if tracker._handles or tracker._restore:  # still installed
                        tracker._patch_fastai(module)

                spec.loader.exec_module = exec_module
                return spec

        self._finder = _Finder()
        sys.meta_path.insert(0, self._finder)

    def _patch_fastai(self, module) -> None:
        opt = module.Optimizer
        step = opt.step
        tracker = self

        def patched(optimizer, *args, **kwargs):
            out = step(optimizer, *args, **kwargs)
            tracker.record_step()
            return out

        self._patch(opt, "step", patched)

    def uninstall(self) -> None:
        import sys

        finder = getattr(self, "_finder", None)
        if finder is not None and finder in sys.meta_path:
            sys.meta_path.remove(finder)
        if self._global_forward is not None:
            self._global_forward.remove()
            self._global_forward = None
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for owner, name, value in reversed(self._restore):
            setattr(owner, name, value)
        self._restore.clear()

    def _patch(self, owner, name, value):
        self._restore.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, value)

    def _now(self) -> float:
        return self.timer() - self.t0

    def _loader_id(self, loader) -> int:
        key = id(loader)
        if key not in self._loader_ids:
            self._loader_ids[key] = len(self._loader_ids)
            try:
                self._lengths[self._loader_ids[key]] = len(loader)
            except TypeError:  # an iterable dataset without a length
                pass
            batch = getattr(loader, "batch_size", None)
            if isinstance(batch, int) and batch > 0:  # None where a batch sampler batches
                self._batch_sizes[self._loader_ids[key]] = batch
        return self._loader_ids[key]

    def _pass_started(self, it, loader, reused: bool = False) -> None:
        if self._paused:
            return
        with self._lock:
            lid = self._loader_id(loader)
            now = self._now()
            old = self._by_iter.get(id(it))
            if old is not None and old["ended_s"] is None:
                old["ended_s"] = _end_of(old, now)
            record = {"loader": lid, "length": self._lengths.get(lid), "started_s": now,
                      "ended_s": None, "batches": 0, "wait_s": 0.0, "steps": 0, "_first_s": None, "_last_s": None}
            self._passes.append(record)
            self._by_iter[id(it)] = record
            if not reused:
                weakref.finalize(it, self._pass_dropped, id(it))

    def _pass_dropped(self, key: int) -> None:
        # a pass left early (break, or the iterator was deleted): it ends when dropped
        with self._lock:
            record = self._by_iter.pop(key, None)
            if record is not None and record["ended_s"] is None:
                record["ended_s"] = _end_of(record, self._now())

    def _pass_ended(self, it) -> None:
        with self._lock:
            record = self._by_iter.get(id(it))
            if record is not None and record["ended_s"] is None:
                record["ended_s"] = self._now()

    def _batch_waited(self, it, start: float) -> None:
        end = self.timer()
        with self._lock:
            record = self._by_iter.get(id(it))
            if record is None or record["ended_s"] is not None:
                return
            record["batches"] += 1
            record["wait_s"] += end - start
            record["_last_s"] = end - self.t0
            if record["_first_s"] is None:
                record["_first_s"] = end - self.t0
            self._current = record
            self._waits.append((end - self.t0, end - start, record))

    def _after_step(self, optimizer, args, kwargs) -> None:
        self.record_step()

    def record_step(self) -> None:
        """One optimizer step ended (torch.optim's hook, or fastai's patched step)."""
        if self._paused:
            return
        with self._lock:
            self._steps.append(self._now())
            self._frozen_steps.append(self.frozen)
            if self._current is not None:
                self._current["steps"] += 1
        if self.on_step is not None:
            self.on_step(self)

    def _first_forward(self, module, args):
        if self._model is not None:
            return
        self.use_model(module)
        self._forward_start(module, args)

    def use_model(self, module) -> None:
        """The model whose input and forward are watched (the first module called, unless named)."""
        if self._global_forward is not None:
            self._global_forward.remove()  # every module call would pay for it
            self._global_forward = None
        self._model = module
        self._handles.append(module.register_forward_pre_hook(self._forward_start))
        self._handles.append(module.register_forward_hook(self._forward_end))

    def _forward_start(self, module, args):
        import torch

        if self._paused:
            return
        self._fwd_start = self.timer()
        x = args[0] if args else None
        if isinstance(x, torch.Tensor) and self._shape is None:
            self._shape, self._batch = tuple(x.shape[1:]), int(x.shape[0])
            self._device = str(x.device)
            kind = x.device.type
            if torch.is_autocast_enabled(kind):
                half = torch.get_autocast_dtype(kind)
                self._precision = {torch.bfloat16: "amp-bf16", torch.float16: "amp-fp16"}.get(half, "fp32")

    def _forward_end(self, module, args, output):
        import torch

        if self._fwd_start is not None and torch.is_grad_enabled():  # training steps only
            self._forward.append(self.timer() - self._fwd_start)
        self._fwd_start = None

    def add_loader_length(self, batches: int) -> None:
        """A loader the hooks cannot measure the length of (fastai's validation set)."""
        with self._lock:
            self._lengths[-1 - len([k for k in self._lengths if k < 0])] = batches

    def prefer_training_loader(self, loader) -> None:
        """The loader the caller named as the training one: its length is known before its pass."""
        with self._lock:
            self._loader_id(loader)

    @contextlib.contextmanager
    def paused(self):
        """Work of advisor's own in the run (counting the model's step) is not the run's."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False

    @property
    def model(self):
        """The top module, once a forward ran."""
        return self._model

    def elapsed_s(self) -> float:
        return self._now()

    @property
    def steps_done(self) -> int:
        return len(self._steps)

    # -- reading ------------------------------------------------------------------------------

    def observation(self) -> Observation:
        with self._lock:
            model = self._model
            return Observation(
                now_s=self._now(), step_s=tuple(self._steps),
                passes=tuple(LoaderPass(**{k: v for k, v in p.items() if not k.startswith("_")})
                             for p in self._passes),
                loader_lengths=dict(self._lengths), loader_batch_sizes=dict(self._batch_sizes),
                batch_wait_s=tuple((when, waited) for when, waited, p in self._waits if p["steps"]),
                forward_s=tuple(self._forward),
                batch_size=self._batch, input_shape=self._shape,
                model=type(model).__name__ if model is not None else None,
                parameters=sum(p.numel() for p in model.parameters()) if model is not None else None,
                device=self._device, precision=self._precision,
                step_frozen=tuple(self._frozen_steps) if any(self._frozen_steps) else (),
                train_batches_per_epoch=self.train_batches_per_epoch,
            )


def _end_of(record: dict, now: float) -> float:
    """When a pass left without exhausting its loader ended (Lightning stops after its count;
    persistent workers reuse the iterator): its last batch plus one batch's time, not when the
    iterator was next reset or dropped."""
    last, first, n = record["_last_s"], record["_first_s"], record["batches"]
    if last is None:
        return now
    per_batch = (last - first) / (n - 1) if n > 1 else 0.0
    return min(now, last + per_batch)
