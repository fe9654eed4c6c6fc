"""Independent reference computations for the dataset tests."""
import math

import numpy as np
import torch


def expected_activity(spans, num_samples, hop):
    """[K, F] 0/1 by brute force: a frame is active if any of its samples lies in a span."""
    num_frames = math.ceil(num_samples / hop)
    out = np.zeros((len(spans), num_frames), dtype=np.float32)
    for k, (a, b) in enumerate(np.asarray(spans, dtype=np.int64).reshape(-1, 2).tolist()):
        mask = np.zeros(num_frames * hop, dtype=bool)
        mask[max(a, 0):min(b, num_samples)] = True
        out[k] = mask.reshape(num_frames, hop).any(axis=1)
    return out


def assert_items_equal(a, b):
    """Two item (or batch) dicts are identical: same keys, bitwise-equal tensors."""
    assert set(a) == set(b)
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert a[key].dtype == b[key].dtype, key
            assert a[key].shape == b[key].shape, key
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key
