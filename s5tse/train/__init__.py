"""The training engine: loop, checkpoints, averaging, optimizers, schedules, statistics.

* :mod:`s5tse.train.trainer` -- :class:`~s5tse.train.trainer.Trainer` (the loop, exact resume)
* :mod:`s5tse.train.options` -- loop config keys and their defaults
* :mod:`s5tse.train.checkpoint` -- ESPnet file names, atomic ``checkpoint.pth`` + ``.prev``
* :mod:`s5tse.train.average` -- n-best weight averaging (integer buffers stay integers)
* :mod:`s5tse.train.optim`, :mod:`s5tse.train.scheduler` -- registries, freezing, groups
* :mod:`s5tse.train.reporter` -- running means, history, rankings, TensorBoard
* :mod:`s5tse.train.distributed`, :mod:`s5tse.train.launch` -- DDP helpers, launcher prefix

Entry point: ``python -m s5tse.bin.train`` (:mod:`s5tse.bin.train`). Submodules are not
imported here (``import s5tse.train`` stays cheap).
"""
