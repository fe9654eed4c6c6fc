"""Helpers shared by the tagger model tests."""
import torch


def random_wav(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(*shape, generator=g)
