"""Encoder distillation for math word problems (issue #6; Shen et al. 2025, arXiv 2507.02982).

BERT-class teacher -> compressor (linear | PCA | LLE | MDS) -> 3-layer 256-d student trained by MSE
in two stages -> GTS tree decoder for equations; linear probes for what the vectors keep.
"""
