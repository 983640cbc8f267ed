"""Two questions about GPU steps that the estimator's set-up and calibration windows rest on.

drift:KEY  does a step slow down under sustained load? The first steps, ten synchronised steps,
           twelve blocks of 25 unsynchronised steps (as the training loop runs them) with the
           SM clock, power and clock-event reasons from NVML, then ten synchronised steps again.
setup:KEY  in a fresh process whose kernels were loaded before (run a drift first): the first
           full-batch training step against first steps at new shapes (half plus one, half,
           full minus three) and a first eval pass at a new shape; each a pair (first, second).

KEY: r18 (resnet18 224 px b128 amp-fp16 channels_last), r34 (resnet34 224 px b64 fp32),
mb (mobilenet_v3_large 224 px b128 fp32); on a CPU the same models at 64 px, batch 8, to check
the script. One JSON line per run, seconds:

    for a in drift:r18 drift:r34 setup:r34 setup:r18; do python benchmarks/gpu_first_steps.py $a; done

Results: benchmarks/results/gpu_first_steps_<gpu>.jsonl.
"""

import json
import sys
import time

import torch

from advisor import Workload
from advisor.measure.training import Trainer, synthetic_batch

SPECS = {"r18": ("resnet18", 224, 128, "amp-fp16", True), "r34": ("resnet34", 224, 64, "fp32", False),
         "mb": ("mobilenet_v3_large", 224, 128, "fp32", False)}


def nvml_clocks():
    """A function returning the SM clock, power, temperature and clock-event reasons ({} without NVML)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:  # noqa: BLE001 - no NVML: the timings alone
        return lambda: {}
    return lambda: dict(sm=pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
                        w=round(pynvml.nvmlDeviceGetPowerUsage(h) / 1000),
                        temp=pynvml.nvmlDeviceGetTemperature(h, 0),
                        thr=pynvml.nvmlDeviceGetCurrentClocksEventReasons(h))


def main() -> None:
    mode, key = sys.argv[1].split(":")
    device = sys.argv[2] if len(sys.argv) > 2 else "cuda:0"
    cuda = device.startswith("cuda")
    model, size, batch, precision, nhwc = SPECS[key]
    if not cuda:
        size, batch, precision = 64, 8, "fp32"
    w = Workload(model=model, image_size=size, batch_size=batch, precision=precision, channels_last=nhwc)
    clocks = nvml_clocks()

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def timed(f, n):
        out = []
        for _ in range(n):
            t = time.perf_counter()
            f()
            sync()
            out.append(time.perf_counter() - t)
        return out

    t = Trainer(w, device)
    x, y = synthetic_batch(w, device)
    b = w.batch_size
    res = {"mode": mode, "key": key}
    if mode == "drift":
        res["first"] = timed(lambda: t.train_step(x, y), 3)
        res["synced10"] = timed(lambda: t.train_step(x, y), 10)
        blocks = []
        for i in range(12):
            s = time.perf_counter()
            for _ in range(25):
                t.train_step(x, y)
            sync()
            blocks.append((time.perf_counter() - s) / 25)
            if i % 3 == 0:
                res.setdefault("clocks", []).append(clocks())
        res["blocks25"] = blocks
        res["synced10_after"] = timed(lambda: t.train_step(x, y), 10)
    else:
        res["first_full"] = timed(lambda: t.train_step(x, y), 1)[0]
        res["steady"] = sorted(timed(lambda: t.train_step(x, y), 8))[4]
        for n in (b // 2 + 1, b // 2, b - 3):
            res[f"new_{n}"] = timed(lambda: t.train_step(x[:n], y[:n]), 2)
        res["eval_full"] = timed(lambda: t.eval_step(x), 2)
        n = b // 4 + 1
        res[f"eval_new_{n}"] = timed(lambda: t.eval_step(x[:n]), 2)

    def rounded(v):
        if isinstance(v, list) and v and isinstance(v[0], float):
            return [round(e, 4) for e in v]
        return round(v, 4) if isinstance(v, float) else v

    print(json.dumps({k: rounded(v) for k, v in res.items()}), flush=True)


if __name__ == "__main__":
    main()
