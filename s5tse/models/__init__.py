"""Neural network models of s5tse (tagger backbones and heads, separators)."""
