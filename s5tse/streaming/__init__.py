"""Block-wise (streaming) inference of the s5tse separators.

* :mod:`.config` — :class:`StreamingConfig` (past / present / future frames), presets.
* :mod:`.separate` — :func:`separate`: one example ``[C, T] -> [K, T]``, offline, block-streamed
  (SR-CorrNet) or chunked (other separators).
* :mod:`.sr_corrnet` — :class:`StreamingSeparator`: stateful block streaming of SR-CorrNet with KV
  and convolution caches; the streaming definition of the per-utterance statistics.
* :mod:`.chunked` — overlapping left/centre/right chunks for any separator.
* :mod:`.stft` — block-wise STFT / overlap-add iSTFT; :mod:`.stats` — running statistics.

Usage::

    from s5tse.streaming import separate, StreamingConfig, STREAMING_PRESETS
    sources = separate(model.eval(), mixture, strong, weak, STREAMING_PRESETS["low_latency"])
"""
from s5tse.streaming.config import STREAMING_PRESETS, StreamingConfig, resolve_streaming_config
from s5tse.streaming.separate import separate
from s5tse.streaming.sr_corrnet import StreamingSeparator

__all__ = ["separate", "StreamingConfig", "STREAMING_PRESETS", "resolve_streaming_config", "StreamingSeparator"]
