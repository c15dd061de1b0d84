"""`make bench`: throughput of the Table 1 network (kernel 5) on this machine, from one run.

Prints images/s of (1) plain forward batches, (2) the batched sensitivity engine (shifted images/s), (3) the naive
per-image, per-shift loop, and (4) training under our Lightning pipeline vs a bare PyTorch loop (same model, data,
optimiser, batch 128). Random 40x40 inputs: throughput does not depend on pixel values.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch


def _timeit(fn, min_seconds: float) -> tuple[float, int]:
    """(seconds, calls) of repeating fn() for at least min_seconds, after one warm-up call."""
    fn()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_seconds or calls == 0:
        fn()
        calls += 1
    return elapsed, calls


def forward_throughput(net, batch: int, seconds: float, channels_last: bool = True) -> float:
    x = torch.rand(batch, 1, 40, 40)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    net.eval()
    with torch.inference_mode():
        elapsed, calls = _timeit(lambda: net(x), seconds)
    return batch * calls / elapsed


def sensitivity_throughput(net, images: int, batch: int) -> float:
    from src.sensitivity import translation_sensitivity

    x, y = torch.rand(images, 1, 40, 40), torch.arange(images) % 10
    translation_sensitivity(net, x[:1], y[:1], batch_size=batch)  # warm-up
    start = time.perf_counter()
    translation_sensitivity(net, x, y, batch_size=batch)
    return images * (441 + 1) / (time.perf_counter() - start)  # 441 shifts plus the unshifted forward


def naive_throughput(net, images: int) -> float:
    from src.sensitivity import naive_translation_sensitivity

    x, y = torch.rand(images, 1, 40, 40), torch.arange(images) % 10
    start = time.perf_counter()
    naive_translation_sensitivity(net, x, y)
    return images * (441 + 1) / (time.perf_counter() - start)


def _train_data(n: int):
    from src.data.datamodule import TensorBatches

    g = torch.Generator().manual_seed(0)
    return TensorBatches(torch.rand(n, 1, 40, 40, generator=g), torch.randint(0, 10, (n,), generator=g))


def bare_training_throughput(steps: int, batch: int = 128) -> float:
    """A plain PyTorch loop: shuffled index batches from in-memory tensors, Adam, cross-entropy."""
    from src.models import build_network

    torch.manual_seed(0)
    net, data = build_network("mnist", 1, 40, 5, "same"), _train_data(steps * batch)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    order = torch.randperm(len(data)).split(batch)
    start = None
    for i, idx in enumerate(order):
        if i == 5:  # warm-up steps excluded
            start = time.perf_counter()
        x, y = data[idx]
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (len(order) - 5) * batch / (time.perf_counter() - start)


def lightning_training_throughput(steps: int, batch: int = 128) -> float:
    """The project's pipeline: ClassifierModule + the datamodule's loader + torchmetrics + Lightning Trainer."""
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
    loader = DataLoader(
        data, sampler=IndexBatches(len(data), batch, shuffle=True), batch_size=None
    )  # as PaddedDataModule
    module = ClassifierModule(build_network("mnist", 1, 40, 5, "same"), lr=1e-3)
    timer = Timer()
    trainer = L.Trainer(
        max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[timer], limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=loader)
    return (steps - 5) * batch / timer.elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=5.0, help="timing window of the forward benchmark, s")
    p.add_argument(
        "--images", type=int, default=40, help="images for the sensitivity benchmark (x 441 shifts)"
    )
    p.add_argument("--batch", type=int, default=128, help="images per forward pass")
    p.add_argument("--train-steps", type=int, default=120, help="training steps (batch 128) per pipeline")
    args = p.parse_args()

    from src.models import build_network

    torch.manual_seed(0)
    net = build_network("mnist", 1, 40, 5, "same")
    print(f"# {time.strftime('%Y-%m-%d')} {platform.node()} {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    fwd = forward_throughput(net, args.batch, args.seconds)
    print(f"forward (Table 1 k=5, batch {args.batch}, channels_last): {fwd:10.0f} images/s")
    sens = sensitivity_throughput(net, args.images, args.batch)
    print(f"sensitivity maps (conv+fc, 441 shifts):        {sens:10.0f} shifted images/s")
    naive = naive_throughput(net, max(1, args.images // 20))
    print(f"naive per-image per-shift loop:                {naive:10.0f} shifted images/s")
    print(f"ratio sensitivity / forward:                   {sens / fwd:10.2f}")
    print(f"ratio naive / forward:                         {naive / fwd:10.2f}")
    print(f"speed-up sensitivity / naive:                  {sens / naive:10.1f}x")
    bare = bare_training_throughput(args.train_steps)
    light = lightning_training_throughput(args.train_steps)
    print(f"training, bare PyTorch loop (batch 128):       {bare:10.0f} images/s")
    print(f"training, Lightning pipeline (batch 128):      {light:10.0f} images/s")
    print(f"Lightning overhead:                            {100 * (1 - light / bare):9.1f} %")


if __name__ == "__main__":
    main()
