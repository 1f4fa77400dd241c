"""Text for facial motion: the five MMHead annotation categories and the prompts that made a clip.

- ``describe(summary, phrasing)``: action, emotion, detail_expression,
  detail_head_pose and emotion_scenario from a ``motion_analysis.MotionSummary``.
- ``realise_prompt(spec, rng, split)``: a 3DMM-LM style prompt from a behaviour spec.
- ``Phrasing(rng, split)``: every word choice; ``split="paraphrase"`` uses the
  held-out wording listed in ``HELDOUT_PHRASES`` / ``HELDOUT_WORDS`` and nothing
  else ever does.
"""
from training.text.describe import CATEGORIES, LIMITS, describe
from training.text.lexicon import HELDOUT_PHRASES, HELDOUT_WORDS, LEXICON
from training.text.phrasing import SPLITS, Phrasing
from training.text.prompt import prompt_facts, realise_prompt

__all__ = [
    "CATEGORIES", "HELDOUT_PHRASES", "HELDOUT_WORDS", "LEXICON", "LIMITS", "SPLITS", "Phrasing",
    "describe", "prompt_facts", "realise_prompt",
]
