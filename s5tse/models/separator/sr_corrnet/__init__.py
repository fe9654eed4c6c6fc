"""Label-queried SR-CorrNet separator (the s5tse proposed system).

Modules: :mod:`.stft` (STFT/iSTFT), :mod:`.correlation` (neighbourhood + PHAT-beta correlation),
:mod:`.blocks` (RMSNorm, PE, RoPE MHSA, ConvFFN, TF block), :mod:`.split` (label-queried FiLM
split, strong-query resampling), :mod:`.decoder` (slot-shared reconstruction decoder with
cross-slot attention), :mod:`.filter` (complex MISO deep filter), :mod:`.model` (assembly,
presets).
"""
from s5tse.models.separator.sr_corrnet.model import (
    SR_CORRNET_PRESETS,
    LabelQueriedSRCorrNet,
    SRCorrNetConfig,
)

__all__ = ["LabelQueriedSRCorrNet", "SRCorrNetConfig", "SR_CORRNET_PRESETS"]
