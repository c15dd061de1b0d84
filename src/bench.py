"""`make bench`: the sensitivity engine and training against this machine's roofline, all in one process.

Roofline: the best plain forward throughput (images/s, inference mode) of the same network over batch sizes and
both memory formats (NCHW contiguous and channels_last). The engine's throughput (shifted images/s, the unshifted
forward included) is reported as a ratio to it, for the MNIST Table 1 and CIFAR-10 Table 2 networks (kernel 5).
Training (batch 128, Adam, the MNIST network) is timed as a bare PyTorch loop in both memory formats and through
the project's Lightning pipeline, and reported against the same roofline; a profile then says where a training step
goes (phases by wall clock, operators by torch.profiler, Lightning's actions by its SimpleProfiler). Random
inputs: throughput does not depend on pixel values. The VM is noisy: compare the ratios, which are measured side
by side.
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import tempfile
import time

# before torch loads: hides the profiler's GPU-probe error line
os.environ.setdefault("KINETO_LOG_LEVEL", "5")
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor

import torch  # noqa: E402

BATCHES = (32, 64, 128, 256, 441, 512, 1024, 2048)


def _timeit(fn, min_seconds: float) -> tuple[float, int]:
    """(seconds, calls) of repeating fn() for at least min_seconds, after one warm-up call."""
    fn()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_seconds or calls == 0:
        fn()
        calls += 1
    return elapsed, calls


def forward_throughput(net, shape: tuple[int, int, int], batch: int, seconds: float, channels_last: bool) -> float:
    """Images/s of net(x) for a batch of `batch` random images of `shape` (C, H, W)."""
    x = torch.rand(batch, *shape)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        net = net.to(memory_format=torch.channels_last)
    else:
        net = net.to(memory_format=torch.contiguous_format)
    net.eval()
    with torch.inference_mode():
        elapsed, calls = _timeit(lambda: net(x), seconds)
    return batch * calls / elapsed


def roofline(net, shape, seconds: float) -> tuple[float, str, dict]:
    """(best images/s, its setting, every setting's images/s) over BATCHES x memory formats."""
    table = {}
    for fmt in ("contiguous", "channels_last"):
        for b in BATCHES:
            table[f"{fmt} batch {b}"] = forward_throughput(net, shape, b, seconds, fmt == "channels_last")
    best = max(table, key=table.get)
    net.to(memory_format=torch.contiguous_format)
    return table[best], best, table


def gemm_rate(dtype: torch.dtype, n: int = 2048, seconds: float = 1.0) -> float:
    """GFLOP/s of an n x n x n matrix product in `dtype` (2 n^3 flops): the machine's practical peak."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.rand(n, n, generator=g).to(dtype) for _ in range(2))
    elapsed, calls = _timeit(lambda: a @ b, seconds)
    return 2 * n**3 * calls / elapsed / 1e9


def forward_flops(net, shape: tuple[int, int, int]) -> int:
    """Floating-point operations of one image's forward pass (torch's FLOP counter: convolutions and matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        net.eval()(torch.rand(1, *shape))
    return counter.get_total_flops()


def physical_limit(net, shape, roof: float, seconds: float) -> None:
    """Print the fp32 and bf16 GEMM peaks, the forward's FLOP rate at the roofline and its ratio to the peak."""
    from src.hardware import bf16_supported

    fp32, bf16 = gemm_rate(torch.float32, seconds=seconds), gemm_rate(torch.bfloat16, seconds=seconds)
    native = "native" if bf16_supported("cpu") else "NOT native on this CPU: emulated"
    flops = forward_flops(net, shape)
    rate = roof * flops / 1e9
    print(f"GEMM 2048^3: fp32 {fp32:6.0f} GFLOP/s, bf16 {bf16:6.0f} GFLOP/s ({bf16 / fp32:4.2f}x; bf16 {native})")
    print(
        f"forward: {flops / 1e6:.2f} MFLOP per image; at the roofline {rate:6.1f} GFLOP/s = {rate / fp32:4.2f} of the "
        "fp32 GEMM peak"
    )


def engine_throughput(net, shape, images: int, **kwargs) -> float:
    """Shifted images/s of translation_sensitivity (441 shifts + the unshifted forward per image)."""
    from src.sensitivity import translation_sensitivity

    x, y = torch.rand(images, *shape), torch.arange(images) % 10
    translation_sensitivity(net, x[:2], y[:2], **kwargs)  # warm-up
    start = time.perf_counter()
    translation_sensitivity(net, x, y, **kwargs)
    return images * (441 + 1) / (time.perf_counter() - start)


def naive_throughput(net, shape, images: int) -> float:
    from src.sensitivity import naive_translation_sensitivity

    x, y = torch.rand(images, *shape), torch.arange(images) % 10
    start = time.perf_counter()
    naive_translation_sensitivity(net, x, y)
    return images * (441 + 1) / (time.perf_counter() - start)


def _train_data(n: int):
    from src.data.datamodule import TensorBatches

    g = torch.Generator().manual_seed(0)
    return TensorBatches(torch.rand(n, 1, 40, 40, generator=g), torch.randint(0, 10, (n,), generator=g))


def bare_training_throughput(
    steps: int, batch: int = 128, channels_last: bool = False, compiled: bool = False, bf16: bool = False
) -> float:
    """A plain PyTorch loop: shuffled index batches from in-memory tensors, Adam, cross-entropy (bf16: the
    forward and loss under bf16 autocast, as Lightning's bf16-mixed does)."""
    from src.models import build_network

    torch.manual_seed(0)
    net, data = build_network("mnist", 1, 40, 5, "same"), _train_data(steps * batch)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    if compiled:
        net.compile()  # compiles during the warm-up steps below, which are not timed
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    order = torch.randperm(len(data)).split(batch)
    start = None
    for i, idx in enumerate(order):
        if i == 5:  # warm-up steps excluded
            start = time.perf_counter()
        x, y = data[idx]
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (len(order) - 5) * batch / (time.perf_counter() - start)


def _bare_one_thread(steps: int, start_at: float) -> float:
    torch.set_num_threads(1)
    time.sleep(max(0.0, start_at - time.time()))  # start together with the other processes
    return bare_training_throughput(steps)


def side_by_side_training_throughput(steps: int, processes: int) -> float:
    """Total images/s of `processes` one-thread training processes running at once (how launcher=parallel with
    threads=1 runs a sweep's jobs on a CPU)."""

    start_at = time.time() + 8.0  # after every process has imported torch
    with ProcessPoolExecutor(processes, mp_context=mp.get_context("spawn")) as pool:
        return sum(pool.map(_bare_one_thread, [steps] * processes, [start_at] * processes))


def lightning_training_throughput(steps: int, batch: int = 128, channels_last: bool = False, profiler=None) -> float:
    """The project's pipeline: ClassifierModule + the datamodule's loader + torchmetrics + Lightning Trainer
    (with `profiler`, a Lightning profiler, attached)."""
    import lightning as L
    from torch.utils.data import DataLoader

    from src.data.datamodule import IndexBatches
    from src.models import ClassifierModule, build_network

    class Timer(L.Callback):
        def on_train_batch_start(self, trainer, module, batch_, batch_idx):
            if batch_idx == 5:
                self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            self.elapsed = time.perf_counter() - self.start

    torch.manual_seed(0)
    data = _train_data(steps * batch)
    # as PaddedDataModule
    loader = DataLoader(data, sampler=IndexBatches(len(data), batch, shuffle=True), batch_size=None)
    module = ClassifierModule(build_network("mnist", 1, 40, 5, "same"), lr=1e-3, channels_last=channels_last)
    timer = Timer()
    quiet = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer = L.Trainer(
        max_epochs=1, accelerator="cpu", callbacks=[timer], limit_val_batches=0, profiler=profiler, **quiet
    )
    trainer.fit(module, train_dataloaders=loader)
    return (steps - 5) * batch / timer.elapsed


# Operator groups of a training step by exact profiler op name (torch 2.14, CPU, oneDNN). Self time: an op's own
# time without the ops it calls (max-pool backward's zero fill of its gradient is aten::fill_).
OP_GROUPS = {
    "convolution backward": ("aten::convolution_backward",),
    "convolution forward": ("aten::mkldnn_convolution", "aten::convolution", "aten::_convolution"),
    "max-pool fwd+bwd (incl. zero fill)": (
        "aten::max_pool2d", "aten::max_pool2d_with_indices", "aten::max_pool2d_with_indices_backward",
        "aten::fill_", "aten::zero_",
    ),
    "fully connected fwd+bwd": ("aten::linear", "aten::addmm", "aten::mm", "aten::t", "aten::sum"),
    "ReLU fwd+bwd": ("aten::relu", "aten::relu_", "aten::clamp_min_", "aten::threshold_backward"),
    "Adam (elementwise updates)": (
        "Optimizer.step#Adam.step", "aten::sqrt", "aten::lerp_", "aten::addcdiv_", "aten::addcmul_", "aten::mul_", "aten::div", "aten::add_",
    ),
    "loss fwd+bwd": (
        "aten::cross_entropy_loss", "aten::log_softmax", "aten::_log_softmax", "aten::nll_loss",
        "aten::nll_loss_nd", "aten::nll_loss_forward", "aten::_log_softmax_backward_data", "aten::nll_loss_backward",
    ),
    "batch gather, layout copies": ("aten::index", "aten::copy_", "aten::clone", "aten::contiguous"),
}  # fmt: skip


def _op_group(name: str) -> str:
    return next((g for g, names in OP_GROUPS.items() if name in names), "other ops")


def _timed_step(net, opt, data, phases: dict[str, float]):
    """One training step on the batch `idx` of `data`; with clock=True the wall time of each phase (s) is added to
    `phases` (keys in order: batch gather, forward, loss, backward, optimizer)."""

    def step(idx, clock: bool) -> None:
        t0 = time.perf_counter()
        x, y = data[idx]
        x = x.contiguous(memory_format=torch.channels_last)
        t1 = time.perf_counter()
        out = net(x)
        t2 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(out, y)
        t3 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t4 = time.perf_counter()
        opt.step()
        t5 = time.perf_counter()
        if clock:
            for k, dt in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                phases[k] += dt

    return step


def training_profile(steps: int, batch: int = 128) -> dict:
    """Where a step of the bare channels_last training loop goes (the default training setting).

    Returns {"phases": phase -> ms per step (wall clock, no profiler attached), "ops": operator group -> ms per
    step (self CPU time from torch.profiler), "top_ops": the ten costliest ops (name, ms per step), "step_ms",
    "forward_inference_ms": one inference-mode forward of the same batch}.
    """
    from torch.profiler import ProfilerActivity, profile

    from src.models import build_network

    torch.manual_seed(0)
    net = build_network("mnist", 1, 40, 5, "same").to(memory_format=torch.channels_last)
    data = _train_data((steps + 5) * batch)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    order = torch.randperm(len(data)).split(batch)
    phases = dict.fromkeys(("batch gather", "forward", "loss", "backward", "optimizer"), 0.0)
    step = _timed_step(net, opt, data, phases)
    net.train()
    for idx in order[:5]:  # warm-up
        step(idx, False)
    half = steps // 2
    start = time.perf_counter()
    for idx in order[5 : 5 + half]:
        step(idx, True)
    step_ms = 1e3 * (time.perf_counter() - start) / half
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for idx in order[5 + half : 5 + steps]:
            step(idx, False)
    ops: dict[str, float] = {}
    per_op = {e.key: e.self_cpu_time_total / 1e3 / (steps - half) for e in prof.key_averages()}
    for name, t in per_op.items():
        ops[_op_group(name)] = ops.get(_op_group(name), 0.0) + t
    x = data[order[0]][0].contiguous(memory_format=torch.channels_last)
    net.eval()
    with torch.inference_mode():
        elapsed, calls = _timeit(lambda: net(x), 1.0)
    return {
        "phases": {k: 1e3 * v / half for k, v in phases.items()},
        "ops": dict(sorted(ops.items(), key=lambda kv: -kv[1])),
        "top_ops": sorted(per_op.items(), key=lambda kv: -kv[1])[:10],
        "step_ms": step_ms,
        "forward_inference_ms": 1e3 * elapsed / calls,
    }


def lightning_profile(steps: int, batch: int = 128) -> dict[str, float]:
    """Lightning's own SimpleProfiler over one epoch of the project's pipeline (channels_last): where a training step
    goes, ms per step (the first 5 steps excluded, as in the throughput timings)."""
    from lightning.pytorch.profilers import SimpleProfiler

    # its report: a file, not stdout
    profiler = SimpleProfiler(dirpath=tempfile.mkdtemp(), filename="profile")
    images_per_s = lightning_training_throughput(steps, batch, channels_last=True, profiler=profiler)

    def ms(action: str) -> float:
        # exactly one
        durations = next(d for a, d in profiler.recorded_durations.items() if a.endswith(action))
        return 1e3 * sum(durations[5:]) / (len(durations) - 5)

    step, batch_ms = 1e3 * batch / images_per_s, ms("run_training_batch")
    closure = ms("Strategy.training_step") + ms("Strategy.backward")
    return {
        "step (wall)": step,
        "training_step: forward, loss, metric update, self.log": ms("Strategy.training_step"),
        "backward": ms("Strategy.backward"),
        "Adam step + zero_grad (optimizer_step minus the closure)": ms("Module.optimizer_step") - closure,
        "fetching the batch": ms("train_dataloader_next"),
        "the rest: hooks, loop and logging outside the batch": step - batch_ms - ms("train_dataloader_next"),
    }


def print_profiles(steps: int) -> None:
    p = training_profile(steps)
    step, fwd = p["step_ms"], p["forward_inference_ms"]
    print(
        f"profile, bare channels_last loop, batch 128: {step:6.2f} ms per step ({128e3 / step:5.0f} images/s); "
        f"one inference forward of the batch {fwd:5.2f} ms, so a step costs {step / fwd:4.2f} forwards"
    )
    for k, v in p["phases"].items():
        print(f"  phase {k:28s} {v:6.2f} ms  {100 * v / step:5.1f} %  ({v / fwd:4.2f} inference forwards)")
    total = sum(p["ops"].values())
    for k, v in p["ops"].items():
        print(f"  ops   {k:34s} {v:6.2f} ms  {100 * v / total:5.1f} % of profiled op time")
    print("  costliest ops: " + ", ".join(f"{n} {t:.2f} ms" for n, t in p["top_ops"]))
    lightning = lightning_profile(steps)
    print(
        f"profile, the Lightning pipeline (channels_last, SimpleProfiler): {lightning['step (wall)']:6.2f} ms per step"
    )
    for k, v in list(lightning.items())[1:]:
        print(f"  {k:58s} {v:6.2f} ms  {100 * v / lightning['step (wall)']:5.1f} %")


def _arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=1.5, help="timing window of each roofline setting, s")
    p.add_argument("--images", type=int, default=40, help="images for the engine benchmark (x 442 forwards)")
    p.add_argument("--train-steps", type=int, default=120, help="training steps (batch 128) per pipeline")
    p.add_argument("--skip-training", action="store_true", help="only the roofline and the engine")
    p.add_argument(
        "--profile", action="store_true", help="only the profile of a training step (phases, operators, Lightning)"
    )
    p.add_argument("--compile", action="store_true", help="also time the bare channels_last loop under torch.compile")
    p.add_argument("--chunks", type=int, nargs="*", default=[128, 512, 1024], help="engine chunk sizes to time")
    return p.parse_args()


def print_forward(args: argparse.Namespace) -> float:
    """The roofline, the engine at each chunk size, bf16 and the naive loop; returns the MNIST roofline, images/s."""
    from src.models import build_network
    from src.sensitivity import translation_sensitivity

    nets = {"MNIST Table 1 k=5": ("mnist", (1, 40, 40)), "CIFAR-10 Table 2 k=5": ("cifar10", (3, 44, 44))}
    mnist_roof = None
    for name, (family, shape) in nets.items():
        torch.manual_seed(0)
        net = build_network(family, shape[0], shape[1], 5, "same")
        images = args.images if family == "mnist" else max(4, args.images // 8)
        roof, where, _ = roofline(net, shape, args.seconds)
        mnist_roof = mnist_roof or roof
        print(f"{name}: roofline {roof:8.0f} images/s ({where})")
        default = inspect.signature(translation_sensitivity).parameters["batch_size"].default
        for chunk in sorted({default, *args.chunks}):
            engine = engine_throughput(net, shape, images, batch_size=chunk)
            mark = "  <- the engine's default" if chunk == default else ""
            print(
                f"{name}: engine, chunk {chunk:5d}: {engine:8.0f} shifted images/s, ratio to roofline "
                f"{engine / roof:5.2f}{mark}"
            )
        if family == "mnist":
            physical_limit(net, shape, roof, args.seconds)
            bf16_engine = engine_throughput(net, shape, images, autocast_dtype=torch.bfloat16)
            fp32_engine = engine_throughput(net, shape, images)
            print(
                f"{name}: engine bf16 autocast {bf16_engine:8.0f} vs fp32 {fp32_engine:8.0f} shifted images/s "
                f"({bf16_engine / fp32_engine:4.2f}x, side by side)"
            )
            naive = naive_throughput(net, shape, 2)
            print(f"{name}: naive per-image per-shift loop {naive:8.0f} images/s   ratio {naive / roof:5.2f}")
    return mnist_roof


def print_training(steps: int, mnist_roof: float) -> None:
    """Training throughput: bf16 vs fp32, bare loop vs Lightning per memory format, processes side by side."""
    fp32_train = bare_training_throughput(steps, channels_last=True)
    bf16_train = bare_training_throughput(steps, channels_last=True, bf16=True)
    print(
        f"training (channels_last, bare loop): bf16 autocast {bf16_train:7.0f} vs fp32 {fp32_train:7.0f} images/s "
        f"({bf16_train / fp32_train:4.2f}x, side by side)"
    )
    for fmt, cl in (("contiguous", False), ("channels_last", True)):
        bare = bare_training_throughput(steps, channels_last=cl)
        light = lightning_training_throughput(steps, channels_last=cl)
        print(
            f"training ({fmt}, batch 128): bare loop {bare:7.0f} images/s ({bare / mnist_roof:4.2f} of the "
            f"roofline), Lightning {light:7.0f} ({light / mnist_roof:4.2f}); Lightning overhead "
            f"{100 * (1 - light / bare):5.1f} %"
        )
    cores = os.cpu_count() or 1
    if cores > 1:
        one = bare_training_throughput(steps)  # the default: one process, every core
        many = side_by_side_training_throughput(steps, cores)
        print(
            f"training, one {torch.get_num_threads()}-thread process: {one:7.0f} images/s; {cores} one-thread "
            f"processes side by side: {many:7.0f} images/s in total ({many / one:4.2f}x)"
        )


def main() -> None:
    from src.cli import keep_freed_memory

    keep_freed_memory()  # as every entry point does (the Makefile's MALLOC_* variables win where set)
    args = _arguments()
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M')} {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    if args.profile:
        return print_profiles(args.train_steps)
    mnist_roof = print_forward(args)
    if args.compile:
        eager = bare_training_throughput(args.train_steps, channels_last=True)
        compiled = bare_training_throughput(args.train_steps, channels_last=True, compiled=True)
        print(
            f"training (channels_last, bare loop): eager {eager:7.0f} images/s, torch.compile {compiled:7.0f} "
            f"({compiled / eager:4.2f}x; compiling is not timed)"
        )
    if args.skip_training:
        return
    print_training(args.train_steps, mnist_roof)
    print_profiles(args.train_steps)  # what bounds training: where a step goes


if __name__ == "__main__":
    main()
