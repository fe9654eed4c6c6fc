"""Stage 5 of the recipe: decoding (tagger -> bridge -> separator) and threshold tuning.

* :mod:`.config` -- keys of ``conf/decode.yaml``, tuned-threshold precedence, streaming specs;
* :mod:`.models` -- rebuild a trained tagger / separator from its experiment dir;
* :mod:`.inputs` -- mixtures to decode, job shares, audio checks;
* :mod:`.runner` -- :class:`~.runner.Decoder`, one mixture at a time (tagger batched);
* :mod:`.outputs` -- the decode-dir contract: estimate files, job parts, merge;
* :mod:`.pipeline` -- glue for the CLIs (``s5tse.bin.decode``, ``s5tse.bin.tune_thresholds``);
* :mod:`.tune` -- grid search of the report / query thresholds.

Modules are imported on use (``from s5tse.decode.outputs import merge_parts``).
"""
