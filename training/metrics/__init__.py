"""Evaluation metrics for Language2Motion and Motion2Language (numpy only, no torch).

- ``retrieval``: R-precision in batches of 32 and MM-Dist (T2M's protocol)
- ``distribution``: FID, Diversity, MultiModality over evaluator embeddings
- ``text``: corpus BLEU-1..4, ROUGE-L, CIDEr-D
- ``attributes``: the head / emotion / speaking attributes of a clip's labels or of a text
- ``report``: the evaluation JSON as a markdown table (model card)

The evaluator that produces the embeddings is ``models.tmr``; the sentence embeddings
for the embedding similarity come from ``training.metrics.sentence``.
"""
from training.metrics.distribution import diversity, fid, multimodality
from training.metrics.retrieval import mm_dist, r_precision
from training.metrics.text import bleu, cider_d, embedding_similarity, rouge_l, words

__all__ = ["bleu", "cider_d", "diversity", "embedding_similarity", "fid", "mm_dist", "multimodality",
           "r_precision", "rouge_l", "words"]
