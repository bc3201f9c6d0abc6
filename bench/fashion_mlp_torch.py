#!/usr/bin/python3
"""The PyTorch side of examples/fashion_mlp.nn: the same model (flatten, dense
128 + relu, dense 10; glorot-uniform kernels, zero biases, as Keras's Dense),
adam (lr 0.001, Keras's epsilon 1e-7), batch 32, 5 epochs, pixels scaled to
0..1, a fresh shuffle every epoch; prints the test accuracy for each seed.
For comparing accuracies, not times: how much the 5-epoch accuracy of this
model moves with the seed in any framework.

  bench/fashion_mlp_torch.py [--seeds 0 1 2 ...] [--epochs N] [--threads N]

Reads Fashion-MNIST from Debian's dataset-fashion-mnist package. Needs
Debian's python3-torch (benchmark only); run it with /usr/bin/python3.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fashion_cnn_torch import DATA, idx  # noqa: E402  (the IDX reader the CNN's side uses)


def pixels(name):
    return torch.tensor(idx(DATA + name).reshape(-1, 784) / 255.0, dtype=torch.float32)


def labels(name):
    return torch.tensor(idx(DATA + name).astype(np.int64))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x, y = pixels("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")
    tx, ty = pixels("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")
    accs = []
    for seed in args.seeds:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        for layer in model:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
        for _ in range(args.epochs):
            order = torch.randperm(len(x))
            for i in range(0, len(x), 32):
                batch = order[i:i + 32]
                opt.zero_grad()
                nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
                opt.step()
        with torch.no_grad():
            acc = (model(tx).argmax(1) == ty).float().mean().item()
        accs.append(acc)
        print(f"seed {seed}: test acc {acc:.4f}", flush=True)
    print(f"mean {np.mean(accs):.4f}, min {min(accs):.4f}, max {max(accs):.4f} over {len(accs)} seeds")


if __name__ == "__main__":
    main()
