"""Fine-tune the recognizer (EfficientNet-Lite0 embedding) on the Grocery Store Dataset.

    python -m training.train_recognizer --out /work/model-artifacts/recognizer.pt [--resume]

Recipe (the default, on the CPU as on a GPU; see training/README.md):
- Every layer fine-tuned, from the ImageNet weights, through a scaled-cosine classification
  head (label smoothing), AdamW, warm-up then cosine decay; stochastic depth as in EfficientNet.
  The head is dropped at export: the embedding is the pooled 1280-d feature, compared by
  cosine to gallery prototypes.
- The training photos are decoded ONCE into memory (uint8, ``--store-size`` square, the whole
  photo squeezed as the runtime squeezes a crop); each epoch draws a fresh cart-style view of
  every photo (training/augment.py: partial crops, another product or a hand over it,
  perspective, wire-basket grid, quarter turns, mirror for produce only, exposure and white
  balance, blur / low resolution, JPEG, noise), in-process or in ``--workers`` processes.
- ``channels_last`` memory format (about 2x faster on the CPU for this network).
- Splits: training/gsd_data.py ``splits``: train (model + gallery) / calib / test, by whole
  photo series. Every ``--eval-every`` epochs the log shows nearest-class-mean (prototype)
  top-1/top-5 on calib and test, gallery = class means of the clean train embeddings.
- ``--ema DECAY`` (optional) also keeps an exponential moving average of the weights (and the
  batch-norm statistics), evaluated beside the trained ones and saved as ``ema_net``
  (``export_recognizer --ema``): the late epochs' top-5 wandered (98.7 % test at epoch 14,
  98.3 % at 28), and an average of the late weights is the usual cure.
- Resumable: after every epoch the checkpoint (model, head, optimizer, scheduler, RNG state,
  epoch) is replaced atomically; ``--resume`` continues from it. ``--epochs`` may be changed
  on resume (the cosine schedule is stretched from the current step on).
Everything random is seeded (``--seed``): each view depends on (seed, epoch, image) only.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import math
import os
import re
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from training import gsd_data
from training.augment import cart_view
from training.preprocess import read_rgb, resize_square
from training.recognizer_model import BACKBONES, PIXEL_MEAN, PIXEL_SCALE, PIXEL_STD, CosineHead, EmbeddingNet, load_backbone

NUM_CLASSES = 81


def decode_all(samples: list[gsd_data.Sample], size: int, cache: Path | None, name: str) -> np.ndarray:
    """[N, size, size, 3] uint8, every photo decoded once (and kept in ``cache`` as .npy)."""
    path = None
    if cache is not None:
        key = hashlib.sha1("\n".join(str(s.path) for s in samples).encode()).hexdigest()[:10]
        path = cache / f"{name}-{size}-{len(samples)}-{key}.npy"
        if path.exists():
            return np.load(path)
    out = np.empty((len(samples), size, size, 3), np.uint8)
    t0 = time.time()
    for i, s in enumerate(samples):
        out[i] = resize_square(read_rgb(s.path), size)
    print(f"decoded {len(samples)} {name} photos at {size}px in {time.time() - t0:.0f}s", flush=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, out)
        tmp.replace(path)
    return out


class Views(torch.utils.data.Dataset):
    """A fresh cart-style view of each in-memory photo per epoch (set ``epoch`` first).
    The view depends only on (seed, epoch, index), not on which process makes it."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, produce: np.ndarray, size: int, seed: int):
        self.images, self.labels, self.produce, self.size, self.seed = images, labels, produce, size, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        rng = np.random.default_rng((self.seed, self.epoch, i))
        j = int(rng.integers(0, len(self.images) - 1))
        j += j >= i  # another photo (almost always another product) for occlusion
        view = cart_view(self.images[i], self.size, bool(self.produce[i]), rng, self.images[j])
        return view, int(self.labels[i])


def to_input(batch_u8: torch.Tensor, device: torch.device) -> torch.Tensor:
    """[B, H, W, 3] uint8 -> normalized float NCHW in channels_last memory (the same pixels
    as preprocess.normalize)."""
    x = batch_u8.to(device, non_blocking=True).permute(0, 3, 1, 2).float()
    mean = torch.tensor(PIXEL_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(PIXEL_STD, device=device).view(1, 3, 1, 1)
    return ((x * PIXEL_SCALE - mean) / std).contiguous(memory_format=torch.channels_last)


def collate(items: list[tuple[np.ndarray, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(np.stack([v for v, _ in items])), torch.tensor([y for _, y in items])


@torch.no_grad()
def embed(net: EmbeddingNet, images: np.ndarray, device: torch.device, autocast, batch: int = 64) -> torch.Tensor:
    net.eval()
    out = []
    for i in range(0, len(images), batch):
        with autocast:
            out.append(net(to_input(torch.from_numpy(images[i : i + batch]), device)).float().cpu())
    return F.normalize(torch.cat(out), dim=1)


def prototype_accuracy(
    train_emb: torch.Tensor, train_y: np.ndarray, test_emb: torch.Tensor, test_y: np.ndarray
) -> tuple[float, float]:
    """Top-1/top-5 of nearest class mean (the gallery lookup, one prototype per class)."""
    protos = torch.zeros(NUM_CLASSES, train_emb.shape[1])
    protos.index_add_(0, torch.from_numpy(train_y), train_emb)
    protos = F.normalize(protos, dim=1)
    top5 = (test_emb @ protos.T).topk(5, dim=1).indices.numpy()
    y = test_y[:, None]
    return float((top5[:, :1] == y).mean()), float((top5 == y).any(1).mean())


class Progress:
    """A text bar with the epoch's ETA, a line every ``every`` seconds (log-file friendly)."""

    def __init__(self, label: str, total: int, every: float = 30.0):
        self.label, self.total, self.every = label, total, every
        self.t0 = self.last = time.time()

    def update(self, done: int, extra: str = "") -> None:
        now = time.time()
        if now - self.last < self.every and done < self.total:
            return
        self.last = now
        rate = (now - self.t0) / max(done, 1)
        filled = int(20 * done / self.total)
        eta = datetime.timedelta(seconds=int(rate * (self.total - done)))
        print(f"  {self.label} [{'#' * filled}{'.' * (20 - filled)}] {done}/{self.total} "
              f"{rate:.2f}s/batch ETA {eta} {extra}", flush=True)


def lr_factor(step: int, warmup: int, total: int) -> float:
    return min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))


def parse_deadline(text: str) -> datetime.datetime | None:
    """'HH:MM' (today, UTC; tomorrow if already past) or an ISO date-time (UTC if naive)."""
    if not text:
        return None
    now = datetime.datetime.now(datetime.UTC)
    if len(text) <= 5:
        hh, mm = (int(v) for v in text.split(":"))
        when = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
        return when if when > now else when + datetime.timedelta(days=1)
    when = datetime.datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)


def epochs_by_deadline(epoch: int, planned: int, epoch_seconds: list[float], deadline: datetime.datetime,
                       eval_seconds: float) -> int:
    """How many epochs in all fit before ``deadline`` at the pace of the slower of the last two
    epochs, when ``epoch`` epochs are done (never more than ``planned``, never fewer than epoch + 1)."""
    pace = float(np.max(epoch_seconds[-2:]))
    left = (deadline - datetime.datetime.now(datetime.UTC)).total_seconds() - eval_seconds
    return max(epoch + 1, min(planned, epoch + int(left // pace)))


def save(path: Path, args: argparse.Namespace, net: EmbeddingNet, head: CosineHead, epochs_done: int,
         opt: torch.optim.Optimizer | None, step: int, history: list[str], epoch_seconds: list[float],
         ema: torch.optim.swa_utils.AveragedModel | None = None) -> None:
    """Atomically replace ``path``. ``opt`` None: a slim checkpoint (model only, for export)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "image_size": args.image_size,
        "embedding_dim": None,
        "version": f"{args.backbone}-gsd-{args.image_size}-full-e{epochs_done}-seed{args.seed}",
        "backbone": args.backbone,
        "epochs_done": epochs_done,
        "split": "gsd_data.splits (train only; calib and test held out)",
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    weights = net.state_dict()
    if opt is None:
        # A slim checkpoint only feeds the export, whose int8 quantization is far coarser than
        # float16; halved, a Lite2 (~19 MB in float32) fits the 16 MiB a device run brings back.
        weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    state = {"meta": meta, "embedding_net": weights, "head": head.state_dict()}
    if ema is not None:
        state["ema_net"] = ema.module.state_dict()
        state["ema_steps"] = int(ema.n_averaged.item())
    if opt is not None:
        state["train_state"] = {
            "epoch": epochs_done, "step": step, "optimizer": opt.state_dict(),
            "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(), "history": history,
            "epoch_seconds": epoch_seconds,
        }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=gsd_data.DEFAULT_ROOT, help="dataset root (or $DASHCART_GSD)")
    ap.add_argument("--out", type=Path, default=Path("/work/model-artifacts/recognizer.pt"))
    ap.add_argument("--resume", action="store_true", help="continue from --out if it holds a training state")
    ap.add_argument("--cache", type=Path, default=Path("/work/model-artifacts/decoded"),
                    help="decoded photos kept here as .npy ('' for none)")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--backbone", choices=BACKBONES, default="lite0")
    ap.add_argument("--store-size", type=int, default=256, help="photos are kept in memory at this square size")
    ap.add_argument("--epochs", type=int, default=28)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4, help="backbone; the head gets 10x")
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up length in epochs")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="also keep an exponential moving average of the weights with this decay per step "
                         "(e.g. 0.998: about 6 epochs' memory at batch 32); 0: none")
    ap.add_argument("--eval-every", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0, help="augmenting processes (0: in the training process)")
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--device", default="cpu", help="cpu, cuda, or auto (cuda when there is one)")
    ap.add_argument("--deadline", default="",
                    help="UTC time (HH:MM or ISO date-time) the run must end by: at each epoch boundary --epochs "
                         "is set to what the last epochs' pace allows, at most the --epochs asked for (the cosine "
                         "schedule then ends there); "
                         "the run then depends on the machine's load, not only on the seed")
    ap.add_argument("--slim-final", action="store_true",
                    help="drop the training state from the last epoch's checkpoint and keep the weights in "
                         "float16 (model only: ~7 MB for Lite0, ~10 MB for Lite2)")
    ap.add_argument("--limit", type=int, default=0, help="use only every n-th image (a smoke test)")
    ap.add_argument("--full", action="store_true", help=argparse.SUPPRESS)  # the old GPU flag: now the default
    args = ap.parse_args(argv)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    torch.manual_seed(args.seed)
    np.random.seed(args.seed % 2**32)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    if problem := gsd_data.missing(args.data):
        print(f"train_recognizer: {problem}", file=sys.stderr)
        return 2
    split = gsd_data.splits(args.data)
    train, calib, test = split
    if args.limit > 1:
        train, calib, test = train[:: args.limit], calib[:: args.limit], test[:: args.limit]
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M:%S} UTC  full fine-tune on {device}, "
          f"{args.image_size}px, batch {args.batch}, {args.epochs} epochs, threads {args.threads}, "
          f"workers {args.workers}", flush=True)
    print(f"splits: train {len(train)} photos ({len({s.label for s in train})} classes), "
          f"calib {len(calib)} ({len({s.label for s in calib})}), test {len(test)} ({len({s.label for s in test})})",
          flush=True)

    cache = Path(args.cache) if str(args.cache) else None
    train_u8 = decode_all(train, args.store_size, cache, "train")
    eval_u8 = {n: decode_all(s, args.image_size, cache, n) for n, s in
               (("train-clean", train), ("calib", calib), ("test", test))}
    train_y = np.array([s.label for s in train])
    ys = {"calib": np.array([s.label for s in calib]), "test": np.array([s.label for s in test])}
    produce = np.array([s.group != "Packages" for s in train])

    net = EmbeddingNet(load_backbone(pretrained=True, name=args.backbone)).to(device).to(memory_format=torch.channels_last)
    head = CosineHead(1280, NUM_CLASSES).to(device)
    opt = torch.optim.AdamW([{"params": net.parameters(), "lr": args.lr},
                             {"params": head.parameters(), "lr": args.lr * 10}], weight_decay=args.weight_decay)
    base_lrs = [g["lr"] for g in opt.param_groups]
    steps_per_epoch = len(train) // args.batch
    total = max(1, steps_per_epoch * args.epochs)
    warmup = max(1, int(steps_per_epoch * args.warmup))
    start_epoch, step, history, epoch_seconds = 0, 0, [], []
    ema = None
    if args.ema > 0:
        ema = torch.optim.swa_utils.AveragedModel(
            net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(args.ema), use_buffers=True)
    if args.resume and args.out.exists():
        ckpt = torch.load(args.out, map_location="cpu", weights_only=False)
        ts = ckpt.get("train_state")
        trained_on = ckpt["meta"].get("backbone", "lite0")   # checkpoints from before --backbone: Lite0
        if trained_on != args.backbone:
            print(f"{args.out} is a {trained_on} run: cannot resume it with --backbone {args.backbone}", file=sys.stderr)
            return 2
        if ts is None:
            print(f"{args.out} has no training state (a slim checkpoint): cannot resume", flush=True)
            return 1
        net.load_state_dict(ckpt["embedding_net"])
        head.load_state_dict(ckpt["head"])
        opt.load_state_dict(ts["optimizer"])
        torch.set_rng_state(ts["torch_rng"])
        np.random.set_state(ts["numpy_rng"])
        start_epoch, step, history = ts["epoch"], ts["step"], ts["history"]
        if ema is not None and "ema_net" in ckpt:
            ema.module.load_state_dict(ckpt["ema_net"])
            ema.n_averaged.fill_(ckpt.get("ema_steps", step))
        epoch_seconds = ts.get("epoch_seconds") or [  # older checkpoints: the log lines' "(NNs)"
            float(m.group(1)) for m in (re.search(r"\((\d+)s\)", line) for line in history) if m]
        print(f"resumed from {args.out} after epoch {start_epoch} (step {step})", flush=True)
        for line in history:
            print(f"  earlier: {line}", flush=True)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def evaluate() -> str:
        t = time.time()
        rows = []
        models = [("", net)] + ([("ema ", ema.module)] if ema is not None else [])
        for label, model in models:
            train_emb = embed(model, eval_u8["train-clean"], device, autocast)
            for name in ("calib", "test"):
                if len(ys[name]):
                    p1, p5 = prototype_accuracy(train_emb, train_y, embed(model, eval_u8[name], device, autocast),
                                                ys[name])
                    rows.append(f"{label}{name} {p1:.3f}/{p5:.3f}")
        return f"prototype top1/top5 {' '.join(rows)} (eval {time.time() - t:.0f}s)"

    data = Views(train_u8, train_y, produce, args.image_size, args.seed)
    generator = torch.Generator()
    loader_kw = dict(batch_size=args.batch, shuffle=True, drop_last=True, collate_fn=collate,
                     num_workers=args.workers, pin_memory=device.type == "cuda",
                     persistent_workers=False, generator=generator)
    if start_epoch == 0:
        print(f"before fine-tuning: {evaluate()}", flush=True)
    t_run = time.time()
    deadline = parse_deadline(args.deadline)
    eval_seconds = 60.0  # reserve for the last evaluation, updated once one has run
    epoch, cap = start_epoch, args.epochs
    while epoch < args.epochs:
        if deadline is not None and epoch_seconds:
            fit = epochs_by_deadline(epoch, cap, epoch_seconds, deadline, eval_seconds)
            if fit > args.epochs and step >= total // 2:
                fit = args.epochs  # past the schedule's middle only shorten: lengthening there only
                # re-raised a low learning rate for a few more near-idle epochs (seen in the first run)
            if fit != args.epochs:
                print(f"deadline {deadline:%H:%M} UTC: {args.epochs} -> {fit} epochs "
                      f"(pace {np.max(epoch_seconds[-2:]):.0f}s/epoch)", flush=True)
                args.epochs = fit
                total = max(1, steps_per_epoch * args.epochs)
        net.train()
        head.train()
        data.epoch = epoch
        generator.manual_seed(args.seed * 1000 + epoch)  # the epoch's order, whatever came before
        bar = Progress(f"epoch {epoch + 1}/{args.epochs}", steps_per_epoch)
        t_ep, loss_sum, n = time.time(), 0.0, 0
        for xb, yb in torch.utils.data.DataLoader(data, **loader_kw):
            for g, base in zip(opt.param_groups, base_lrs):
                g["lr"] = base * lr_factor(step, warmup, total)
            with autocast:
                emb = net(to_input(xb, device))
            loss = F.cross_entropy(head(emb.float()), yb.to(device), label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update_parameters(net)
            step += 1
            n += 1
            loss_sum += loss.item()
            bar.update(n, f"loss {loss_sum / n:.3f}")
        ep_s = time.time() - t_ep
        last = epoch == args.epochs - 1
        msg = ""
        if (epoch + 1) % args.eval_every == 0 or last:
            t_eval = time.time()
            msg = evaluate()
            eval_seconds = time.time() - t_eval
        line = (f"epoch {epoch + 1}/{args.epochs} loss {loss_sum / max(n, 1):.3f} lr {opt.param_groups[0]['lr']:.2e} "
                f"({ep_s:.0f}s) {msg}")
        history.append(line)
        remaining = datetime.timedelta(seconds=int(ep_s * (args.epochs - epoch - 1)))
        print(f"{line}  [{datetime.datetime.now(datetime.UTC):%H:%M:%S} UTC, ~{remaining} to go]", flush=True)
        epoch_seconds.append(ep_s)
        save(args.out, args, net, head, epoch + 1, None if (last and args.slim_final) else opt, step, history,
             epoch_seconds, ema)
        epoch += 1
    print(f"done in {time.time() - t_run:.0f}s -> {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
