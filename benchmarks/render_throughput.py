"""Channels per second: vischange's batched render engine against a lucent-style reference.

The reference renders one channel per call the way lucent's ``render_vis`` does:
a single-image Fourier parameterization, forward hooks registered on every
module at the start of the call and removed at its end, the full network run
on every step (no early stop), one Adam optimizer per image.  Both sides use the
same network, image size, steps, learning rate, colour matrix and transforms,
and run in this one process, alternating, so they see the same machine state.

    python benchmarks/render_throughput.py --arch resnet18 --layer layer4.1 \
        --size 64 --steps 128 --channels 16 --device cpu

Prints a Markdown table row and writes it as JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torchvision

from vischange.render import channel, make_param, render_channels, standard_transforms
from vischange.render.engine import pair_seed


def reference_render(model, layer_name, channel_index, *, size, steps, lr, transforms, device, seed):
    """One channel, one image, lucent-style: per-call hooks on all modules, full forward."""
    features = {}
    handles = [
        module.register_forward_hook(lambda _m, _i, out, name=name: features.__setitem__(name, out))
        for name, module in model.named_modules()
        if name
    ]
    try:
        param = make_param("fourier", 1, size, generator=torch.Generator().manual_seed(pair_seed(seed, channel_index, 0))).to(device)
        generator = torch.Generator().manual_seed(pair_seed(seed, channel_index, 1))
        opt = torch.optim.Adam(param.parameters(), lr=lr)
        objective = channel(layer_name, [channel_index])
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            model(transforms(param(), generator))
            loss = -objective({layer_name: features[layer_name]}).sum()
            loss.backward()
            opt.step()
        return param().detach()
    finally:
        for handle in handles:
            handle.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--layer", default="layer4.1")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--channels", type=int, default=16, help="channels rendered by each side")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--compile", action="store_true", help="engine uses torch.compile")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = torchvision.models.get_model(args.arch, weights=None).to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    channels = list(range(args.channels))
    transforms = standard_transforms(args.size)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def run_engine() -> float:
        sync()
        start = time.perf_counter()
        render_channels(
            model, args.layer, channels, [0], size=args.size, steps=args.steps, lr=0.05,
            redirect_steps=16, device=device, compile=args.compile,
        )
        sync()
        return time.perf_counter() - start

    def run_reference() -> float:
        sync()
        start = time.perf_counter()
        for c in channels:
            reference_render(model, args.layer, c, size=args.size, steps=args.steps, lr=0.05,
                             transforms=transforms, device=device, seed=0)
        sync()
        return time.perf_counter() - start

    run_engine()  # warm-up (cuDNN autotuning, allocator, compile)
    engine_t, reference_t = [], []
    for _ in range(args.repeats):
        reference_t.append(run_reference())
        engine_t.append(run_engine())
    engine_cps = args.channels / statistics.median(engine_t)
    reference_cps = args.channels / statistics.median(reference_t)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    result = {
        "device": name,
        "arch": args.arch,
        "layer": args.layer,
        "size": args.size,
        "steps": args.steps,
        "channels": args.channels,
        "repeats": args.repeats,
        "engine_seconds": engine_t,
        "reference_seconds": reference_t,
        "engine_channels_per_s": engine_cps,
        "reference_channels_per_s": reference_cps,
        "speedup": engine_cps / reference_cps,
        "torch": torch.__version__,
    }
    print("| device | model, layer | size, steps | engine ch/s | reference ch/s | speed-up |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {name} | {args.arch} {args.layer} | {args.size}px, {args.steps} | "
        f"{engine_cps:.3g} | {reference_cps:.3g} | {engine_cps / reference_cps:.1f}x |"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
