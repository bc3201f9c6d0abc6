#!/usr/bin/python3
"""The PyTorch side of the fashion_cnn benchmark: the same convnet as
examples/fashion_cnn.nn (conv 32 5x5 same + relu, max-pool 2, conv 64 5x5 same
+ relu, max-pool 2, dense 1024 + relu, dropout 0.4, dense 10), the same batch,
optimizer and thread count, timed over one epoch of the data given.

  bench/fashion_cnn_torch.py [--threads N] [--rows N] [--batch N] [--epochs N] [--no-dropout]

Reads Fashion-MNIST from Debian's dataset-fashion-mnist package, or random
pixels with --random. Needs Debian's python3-torch (benchmark only); run it
with /usr/bin/python3.
"""
import argparse
import gzip
import struct
import time

import numpy as np
import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist/"


def idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndims = raw[3]
    dims = struct.unpack(">" + "I" * ndims, raw[4:4 + 4 * ndims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def model(dropout):
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(),
        nn.Dropout(0.4 if dropout else 0.0), nn.Linear(1024, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", type=int, default=60000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--random", action="store_true")
    ap.add_argument("--no-dropout", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.random:
        rng = np.random.default_rng(3)
        images = rng.integers(0, 256, size=(args.rows, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=args.rows)
    else:
        images = idx(DATA + "train-images-idx3-ubyte.gz")[:args.rows]
        labels = idx(DATA + "train-labels-idx1-ubyte.gz")[:args.rows]
    x = torch.tensor(images, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255
    y = torch.tensor(labels, dtype=torch.long)
    net = model(not args.no_dropout)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(x))
        total = 0.0
        for i in range(0, len(x), args.batch):
            b = perm[i:i + args.batch]
            opt.zero_grad()
            loss = loss_fn(net(x[b]), y[b])
            loss.backward()
            opt.step()
            total += loss.item()
        ms = (time.perf_counter() - t0) * 1000
        print(f"epoch {epoch + 1}: loss {total / ((len(x) + args.batch - 1) // args.batch):.4f}, "
              f"{ms:.0f} ms ({args.threads} thread{'s' if args.threads > 1 else ''}, {len(x)} rows, batch {args.batch})")


if __name__ == "__main__":
    main()
