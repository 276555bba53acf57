"""Fine-tune the recognizer (EfficientNet-Lite0 embedding) on the Grocery Store Dataset.

    python training/train_recognizer.py --out /work/model-artifacts/recognizer.pt

Recipe (sized for ~1 hour on 2 CPU cores; see training/README.md):
- Input 160x160, the whole image squeezed (as the runtime does with a crop).
- The stem and blocks 0..FREEZE-1 keep their ImageNet weights. Their output is computed once
  per image for VIEWS views: view 0 is the clean image, the others are random augmentations
  (random resized crop, quarter-turn rotations, mirror for produce, colour jitter); each epoch
  draws one view per image. This is what makes fine-tuning affordable here: the frozen
  high-resolution layers, the expensive part on a CPU, run VIEWS times instead of per epoch.
- Blocks FREEZE.. and the 1x1 head conv are fine-tuned with a scaled-cosine classification head
  (label smoothing), AdamW, cosine learning-rate decay. The head is dropped at export: the
  embedding is the pooled 1280-d feature, compared by cosine to gallery prototypes.
- The classes that the dataset's val split lacks lose the tail of their train images (whole
  series, by file number) to a held-out set, so every class can be measured.
Everything random is seeded (--seed); the same command reproduces the same checkpoint on the
same software (torch CPU kernels are deterministic for these ops).

``--full`` is the recipe for a GPU (training/device_finetune.sh): every layer fine-tuned, each
epoch on views augmented afresh by ``--workers`` processes, bf16 autocast on CUDA; the
checkpoint has the same form, so export and the bench take it as they are.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gsd_data  # noqa: E402
from preprocess import normalize, read_rgb, resize_square  # noqa: E402
from recognizer_model import CosineHead, EmbeddingNet, load_backbone  # noqa: E402

NUM_CLASSES = 81


def augment(rgb: np.ndarray, size: int, produce: bool, rng: np.random.Generator, lowres: float = 0.0) -> np.ndarray:
    """One random view: resized crop, quarter turn, mirror (produce only: carton text must
    not be mirrored), brightness/contrast/saturation/hue jitter, and with probability
    ``lowres`` the detail of a small crop (an item far from a basket camera is 60-150 px).
    Returns uint8 size x size."""
    h, w = rgb.shape[:2]
    for _ in range(10):
        area = h * w * rng.uniform(0.35, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if cw <= w and ch <= h:
            x0, y0 = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
            rgb = rgb[y0 : y0 + ch, x0 : x0 + cw]
            break
    if lowres and rng.random() < lowres:
        small = int(rng.integers(56, 129))
        rgb = cv2.resize(resize_square(rgb, small), (size, size), interpolation=cv2.INTER_LINEAR)
    out = resize_square(rgb, size)
    out = np.rot90(out, int(rng.integers(0, 4)))  # a basket is seen from above: any turn
    if produce and rng.random() < 0.5:
        out = out[:, ::-1]
    out = np.ascontiguousarray(out)
    hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-0.03, 0.03) * 180) % 180
    hsv[..., 1] *= rng.uniform(0.7, 1.3)
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    out = out * rng.uniform(0.7, 1.3)  # brightness
    mean = out.mean()
    out = (out - mean) * rng.uniform(0.7, 1.3) + mean  # contrast
    return np.clip(out, 0, 255).astype(np.uint8)


def frozen_forward(bb: nn.Module, x: torch.Tensor, freeze: int) -> torch.Tensor:
    h = bb._swish(bb._bn0(bb._conv_stem(x)))
    for i in range(freeze):
        h = bb._blocks[i](h)
    return h


def trainable_forward(bb: nn.Module, h: torch.Tensor, freeze: int, training: bool) -> torch.Tensor:
    n = len(bb._blocks)
    for i in range(freeze, n):
        # stochastic depth as in EfficientNet (rate 0.2 scaled by depth), training only
        h = bb._blocks[i](h, drop_connect_rate=0.2 * i / n if training else None)
    h = bb._swish(bb._bn1(bb._conv_head(h)))
    return h.mean(dim=(2, 3))


@torch.no_grad()
def cache_features(
    bb: nn.Module, samples: list[gsd_data.Sample], size: int, freeze: int, views: int,
    seed: int, lowres: float = 0.0, batch: int = 32,
) -> np.ndarray:
    """[len(samples), views, C, H, W] float16 outputs of the frozen layers; view 0 is clean."""
    rng = np.random.default_rng(seed)
    out = None
    pending: list[np.ndarray] = []
    slots: list[tuple[int, int]] = []

    def flush() -> None:
        nonlocal out
        x = torch.from_numpy(normalize(np.stack(pending))).permute(0, 3, 1, 2)
        f = frozen_forward(bb, x, freeze).numpy().astype(np.float16)
        if out is None:
            out = np.zeros((len(samples), views) + f.shape[1:], np.float16)
        for (i, v), fi in zip(slots, f):
            out[i, v] = fi
        pending.clear()
        slots.clear()

    t0 = time.time()
    for i, s in enumerate(samples):
        rgb = read_rgb(s.path)
        for v in range(views):
            img = resize_square(rgb, size) if v == 0 else augment(rgb, size, s.group != "Packages", rng, lowres)
            pending.append(img)
            slots.append((i, v))
            if len(pending) == batch:
                flush()
        if i % 250 == 0:
            print(f"  cached {i}/{len(samples)} images ({time.time() - t0:.0f}s)", flush=True)
    if pending:
        flush()
    return out


@torch.no_grad()
def embed_cached(bb: nn.Module, feats: np.ndarray, freeze: int, batch: int = 64) -> torch.Tensor:
    chunks = [
        trainable_forward(bb, torch.from_numpy(feats[i : i + batch].astype(np.float32)), freeze, False)
        for i in range(0, len(feats), batch)
    ]
    return F.normalize(torch.cat(chunks), dim=1)


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


def step(opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LRScheduler, loss: torch.Tensor) -> float:
    """One optimizer step on ``loss``; returns its value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    return loss.item()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=gsd_data.DEFAULT_ROOT)
    ap.add_argument("--out", type=Path, default=Path("/work/model-artifacts/recognizer.pt"))
    ap.add_argument("--cache", type=Path, default=Path("/work/model-artifacts/feature-cache"),
                    help="frozen-layer outputs are kept here and reused when settings match")
    ap.add_argument("--image-size", type=int, default=160)
    ap.add_argument("--freeze", type=int, default=11, help="blocks 0..N-1 (and the stem) stay frozen")
    ap.add_argument("--views", type=int, default=5, help="cached views per training image")
    ap.add_argument("--lowres", type=float, default=0.0,
                    help="share of augmented views given the detail of a 56-128 px crop")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3, help="backbone blocks; the head gets 10x")
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--full", action="store_true",
                    help="fine-tune every layer on views augmented afresh each epoch (no cache; --freeze and "
                         "--views unused): the recipe for a GPU, far too slow on 2 CPU cores")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, or auto (cuda when there is one)")
    ap.add_argument("--workers", type=int, default=2, help="--full: processes decoding and augmenting images")
    ap.add_argument("--limit", type=int, default=0, help="use only every n-th training image (a smoke test)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    train, val, held = gsd_data.evaluation_sets(args.data)
    if args.limit > 1:
        train, val, held = train[:: args.limit], val[:: args.limit], held[:: args.limit]
    print(f"train {len(train)} images, val {len(val)} ({len({s.label for s in val})} classes), "
          f"held-out train tail {len(held)} ({len({s.label for s in held})} classes)", flush=True)

    net = EmbeddingNet(load_backbone(pretrained=True))
    if args.full:
        return train_full(args, net, train, val, held)
    bb = net.backbone
    bb.eval()
    args.cache.mkdir(parents=True, exist_ok=True)
    tag = f"s{args.image_size}-f{args.freeze}-v{args.views}-lr{args.lowres:g}-seed{args.seed}"

    def cached(name: str, samples: list[gsd_data.Sample], views: int) -> np.ndarray:
        path = args.cache / f"{name}-{tag}.npy"
        if path.exists():
            return np.load(path, mmap_mode="r")
        print(f"caching frozen-layer features: {name} ({len(samples)} x {views} views)", flush=True)
        feats = cache_features(bb, samples, args.image_size, args.freeze, views, args.seed, args.lowres)
        np.save(path, feats)
        return feats

    t0 = time.time()
    train_f = cached("train", train, args.views)
    eval_f = cached("eval", val + held, 1)[:, 0]
    print(f"features ready in {time.time() - t0:.0f}s", flush=True)
    train_y = np.array([s.label for s in train])
    eval_y = np.array([s.label for s in val + held])
    n_val = len(val)

    head = CosineHead(1280, NUM_CLASSES)
    trainable = [bb._blocks[i] for i in range(args.freeze, len(bb._blocks))] + [bb._conv_head, bb._bn1]
    for p in bb.parameters():
        p.requires_grad = False
    body_params = [p for m in trainable for p in m.parameters()]
    for p in body_params:
        p.requires_grad = True
    opt = torch.optim.AdamW(
        [{"params": body_params, "lr": args.lr}, {"params": head.parameters(), "lr": args.lr * 10}],
        weight_decay=args.weight_decay,
    )
    steps_per_epoch = math.ceil(len(train) / args.batch)
    total = steps_per_epoch * args.epochs
    warmup = steps_per_epoch // 2
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )

    def evaluate() -> str:
        for m in trainable:
            m.eval()
        emb = embed_cached(bb, eval_f, args.freeze)
        logits = head(emb)
        top1 = (logits.argmax(1).numpy() == eval_y)
        train_emb = embed_cached(bb, train_f[:, 0], args.freeze)
        p1v, p5v = prototype_accuracy(train_emb, train_y, emb[:n_val], eval_y[:n_val])
        p1h, p5h = prototype_accuracy(train_emb, train_y, emb[n_val:], eval_y[n_val:])
        return (f"head top1 val {top1[:n_val].mean():.3f} held {top1[n_val:].mean():.3f} | "
                f"prototype top1/top5 val {p1v:.3f}/{p5v:.3f} held {p1h:.3f}/{p5h:.3f}")

    print(f"before fine-tuning: {evaluate()}", flush=True)
    for epoch in range(args.epochs):
        for m in trainable:
            m.train()
        order = rng.permutation(len(train))
        view = rng.integers(0, args.views, len(train))
        t_ep, loss_sum = time.time(), 0.0
        for b in range(steps_per_epoch):
            idx = np.sort(order[b * args.batch : (b + 1) * args.batch])
            x = torch.from_numpy(np.stack([train_f[i, v] for i, v in zip(idx, view[idx])]).astype(np.float32))
            y = torch.from_numpy(train_y[idx])
            loss = F.cross_entropy(
                head(trainable_forward(bb, x, args.freeze, True)), y, label_smoothing=args.label_smoothing
            )
            loss_sum += step(opt, sched, loss)
        msg = evaluate() if (epoch % 3 == 2 or epoch == args.epochs - 1) else ""
        print(f"epoch {epoch + 1}/{args.epochs} loss {loss_sum / steps_per_epoch:.3f} "
              f"({time.time() - t_ep:.0f}s) {msg}", flush=True)
        save(args, net, head, epoch + 1)
    print(f"done in {time.time() - t0:.0f}s -> {args.out}", flush=True)
    return 0


class ImageViews(torch.utils.data.Dataset):
    """--full: each image as the network sees it, a fresh augmented view per epoch (``epoch``
    is set before each one; the view depends only on seed, epoch and image, not on workers)."""

    def __init__(self, samples: list[gsd_data.Sample], size: int, seed: int, lowres: float, augmented: bool):
        self.samples, self.size, self.seed, self.lowres, self.augmented = samples, size, seed, lowres, augmented
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        s = self.samples[i]
        rgb = read_rgb(s.path)
        if self.augmented:
            rng = np.random.default_rng((self.seed, self.epoch, i))
            img = augment(rgb, self.size, s.group != "Packages", rng, self.lowres)
        else:
            img = resize_square(rgb, self.size)
        return torch.from_numpy(normalize(img)).permute(2, 0, 1), s.label


def train_full(args: argparse.Namespace, net: EmbeddingNet, train: list[gsd_data.Sample],
               val: list[gsd_data.Sample], held: list[gsd_data.Sample]) -> int:
    """Every layer fine-tuned on views augmented afresh each epoch; bf16 autocast on a GPU."""
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    net.to(device)
    head = CosineHead(1280, NUM_CLASSES).to(device)
    opt = torch.optim.AdamW([{"params": net.parameters(), "lr": args.lr},
                             {"params": head.parameters(), "lr": args.lr * 10}], weight_decay=args.weight_decay)
    data = ImageViews(train, args.image_size, args.seed, args.lowres, augmented=True)
    generator = torch.Generator().manual_seed(args.seed)

    def loader(dataset: torch.utils.data.Dataset, shuffle: bool) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=shuffle, generator=generator,
                                           num_workers=args.workers, pin_memory=device.type == "cuda",
                                           drop_last=shuffle)

    steps_per_epoch = len(train) // args.batch
    total = max(1, steps_per_epoch * args.epochs)
    warmup = max(1, steps_per_epoch // 2)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    @torch.no_grad()
    def embed(samples: list[gsd_data.Sample]) -> tuple[torch.Tensor, np.ndarray]:
        net.eval()
        out = []
        for x, _ in loader(ImageViews(samples, args.image_size, args.seed, 0.0, augmented=False), False):
            with autocast:
                out.append(net(x.to(device)).float())
        return F.normalize(torch.cat(out), dim=1).cpu(), np.array([s.label for s in samples])

    def evaluate() -> str:
        train_emb, train_y = embed(train)
        rows = []
        for name, samples in (("val", val), ("held", held)):
            if samples:
                emb, y = embed(samples)
                p1, p5 = prototype_accuracy(train_emb, train_y, emb, y)
                rows.append(f"{name} {p1:.3f}/{p5:.3f}")
        return "prototype top1/top5 " + " ".join(rows)

    t0 = time.time()
    print(f"full fine-tune on {device}: {len(train)} images, {args.epochs} epochs of {steps_per_epoch} steps", flush=True)
    for epoch in range(args.epochs):
        net.train()
        data.epoch = epoch
        t_ep, loss_sum = time.time(), 0.0
        for x, y in loader(data, True):
            with autocast:
                loss = F.cross_entropy(head(net(x.to(device, non_blocking=True)).float()), y.to(device),
                                       label_smoothing=args.label_smoothing)
            loss_sum += step(opt, sched, loss)
        msg = evaluate() if (epoch % 5 == 4 or epoch == args.epochs - 1) else ""
        print(f"epoch {epoch + 1}/{args.epochs} loss {loss_sum / max(steps_per_epoch, 1):.3f} "
              f"({time.time() - t_ep:.0f}s) {msg}", flush=True)
        save(args, net, head, epoch + 1)   # export loads it with map_location="cpu"
    print(f"done in {time.time() - t0:.0f}s -> {args.out}", flush=True)
    return 0


def save(args: argparse.Namespace, net: EmbeddingNet, head: CosineHead, epochs_done: int) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "image_size": args.image_size,
        "embedding_dim": None,
        "version": f"lite0-gsd-{args.image_size}-f{0 if args.full else args.freeze}-e{epochs_done}-seed{args.seed}",
        "epochs_done": epochs_done,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    tmp = args.out.with_suffix(".tmp")
    torch.save({"meta": meta, "embedding_net": net.state_dict(), "head": head.state_dict()}, tmp)
    tmp.replace(args.out)


if __name__ == "__main__":
    raise SystemExit(main())
