"""Render ``training.evaluate`` JSON as markdown tables and keep them in the model card.

    python -m training.metrics.report RESULT.json --version v1 [--model-card artifacts/MODEL_CARD.md]

Without ``--model-card`` the tables are printed. With it, the card's language-model
evaluation section (between ``<!-- lm-eval:begin -->`` and ``<!-- lm-eval:end -->``
under the "Language model" heading) holds one subsection a model version: the
version's subsection is replaced, others stay. A missing card is created with a
heading per model; nothing outside the markers is touched.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- lm-eval:begin -->", "<!-- lm-eval:end -->"
VERSION_MARK = "<!-- lm-eval:version {} -->"
_VERSION_RE = re.compile(r"<!-- lm-eval:version (.+?) -->")
TARGETS = {"l2m_held_out": 0.95, "l2m_paraphrase": 0.90, "r_precision_gap": 0.05, "m2l": 0.95}
NEW_CARD = """# facelm model card

The shipped default models in this folder, what they were trained on and how they score.

## Motion tokenizer

## Language model

### Evaluation

{begin}
{end}

## Text encoder

## Audio-driven model
"""


def _f(x: Any, digits: int = 3) -> str:
    if x is None or isinstance(x, str):
        return "–" if x is None else x
    return f"{x:.{digits}f}"


def _pct(x: Any) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _get(d: dict, *keys, default=None):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def _check(ok: bool | None) -> str:
    return "–" if ok is None else ("yes" if ok else "**no**")


def language2motion_table(result: dict) -> list[str]:
    ref, l2m = result.get("reference", {}), result.get("language2motion", {})
    rows = [("real motion (reference)", _get(ref, "real", "attributes"), _get(ref, "real", "held_out"), None),
            ("real, paraphrase prompts", None, _get(ref, "real", "paraphrase"), None),
            ("a still neutral silent face", _get(ref, "real", "attributes_of_doing_nothing"), None, None),
            ("tokenizer reconstruction", _get(ref, "reconstructed", "attributes"),
             _get(ref, "reconstructed", "held_out"), None),
            ("LM, held-out prompts", _get(l2m, "held_out", "attributes"), _get(l2m, "held_out", "evaluator"),
             _get(l2m, "multimodality", "value")),
            ("LM, unseen paraphrases", _get(l2m, "paraphrase", "attributes"), _get(l2m, "paraphrase", "evaluator"),
             None)]
    out = ["| motion | n | emotion % | head % | speaking % | all three % | R@1 | R@2 | R@3 | FID | MM-Dist | "
           "Diversity | MModality |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, a, e, mm in rows:
        if a is None and e is None:
            continue
        a, e = a or {}, e or {}
        fid = e.get("fid", _get(ref, "real", "fid_half_split") if name.startswith("real motion") else None)
        out.append(f"| {name} | {a.get('n', e.get('n', '–'))} | {_pct(a.get('emotion'))} | {_pct(a.get('head'))} | "
                   f"{_pct(a.get('speaking'))} | {_pct(a.get('all'))} | {_f(e.get('r_precision_top1'))} | "
                   f"{_f(e.get('r_precision_top2'))} | {_f(e.get('r_precision_top3'))} | {_f(fid)} | "
                   f"{_f(e.get('mm_dist'))} | {_f(e.get('diversity'))} | {_f(mm)} |")
    return out


def motion2language_table(result: dict) -> list[str]:
    ref = _get(result, "reference", "describe", "reworded_annotator") or {}
    lm = _get(result, "motion2language", "captions") or {}
    cats = [c for c in (lm or ref) if c != "mean"] + ["mean"]
    out = ["| category | BLEU-1 | BLEU-4 | ROUGE-L | CIDEr-D | MiniLM cos | reworded annotator BLEU-4 / CIDEr-D |",
           "|---|---|---|---|---|---|---|"]
    for c in cats:
        s, r = lm.get(c, {}), ref.get(c, {})
        out.append(f"| {c} | {_f(s.get('bleu1'))} | {_f(s.get('bleu4'))} | {_f(s.get('rouge_l'))} | "
                   f"{_f(s.get('cider_d'))} | {_f(s.get('embedding_similarity'))} | "
                   f"{_f(r.get('bleu4'))} / {_f(r.get('cider_d'))} |")
    return out


def attribute_line(result: dict) -> list[str]:
    lm = _get(result, "motion2language", "attributes") or {}
    ref = _get(result, "reference", "describe", "attributes_of_corpus_text") or {}
    out = ["| text | n | emotion % | head % | speaking % | all three % |", "|---|---|---|---|---|---|"]
    for name, a in (("corpus text (reference)", ref), ("LM description", lm)):
        if a:
            out.append(f"| {name} | {a.get('n')} | {_pct(a.get('emotion'))} | {_pct(a.get('head'))} | "
                       f"{_pct(a.get('speaking'))} | {_pct(a.get('all'))} |")
    return out


def qa_table(result: dict) -> list[str]:
    qa = result.get("qa", {})
    kinds = [k for k, v in qa.items() if isinstance(v, dict) and "accuracy" in v]
    if not kinds:
        return []
    out = ["| question kind | accuracy % | balanced (yes/no) % | majority answer % | n |", "|---|---|---|---|---|"]
    out += [f"| {k} | {_pct(qa[k]['accuracy'])} | {_pct(qa[k].get('balanced_accuracy'))} | "
            f"{_pct(qa[k]['majority_answer_rate'])} | {qa[k]['n']} |" for k in kinds]
    out.append(f"| mean | {_pct(qa.get('mean'))} | | | |")
    return out


def targets(result: dict) -> list[str]:
    """The ARCHITECTURE.md targets: every primary attribute at or above the bar."""
    def least(a: dict | None) -> float | None:
        return None if not a else min(a[k] for k in ("emotion", "head", "speaking") if k in a)

    held = least(_get(result, "language2motion", "held_out", "attributes"))
    para = least(_get(result, "language2motion", "paraphrase", "attributes"))
    m2l = least(_get(result, "motion2language", "attributes"))
    gen_r3 = _get(result, "language2motion", "held_out", "evaluator", "r_precision_top3")
    real_r3 = _get(result, "reference", "real", "held_out", "r_precision_top3")
    gap = None if gen_r3 is None or real_r3 is None else real_r3 - gen_r3
    return ["| target | measured | met |", "|---|---|---|",
            f"| L2M attributes >= 95 % held out (lowest of emotion/head/speaking) | {_pct(held)} | "
            f"{_check(None if held is None else held >= TARGETS['l2m_held_out'])} |",
            f"| L2M attributes >= 90 % unseen paraphrases | {_pct(para)} | "
            f"{_check(None if para is None else para >= TARGETS['l2m_paraphrase'])} |",
            f"| L2M R-precision top-3 within 0.05 of real | {_f(gap)} below real | "
            f"{_check(None if gap is None else gap <= TARGETS['r_precision_gap'])} |",
            f"| M2L attributes >= 95 % | {_pct(m2l)} | {_check(None if m2l is None else m2l >= TARGETS['m2l'])} |"]


def render_markdown(result: dict, version: str) -> str:
    meta = result.get("meta", {})
    lines = [f"#### {version}", "",
             f"Test split of `{meta.get('corpus')}`, {meta.get('clips')} clips; LM `{meta.get('lm')}` "
             f"(step {meta.get('lm_step')}), tokenizer `{meta.get('tokenizer')}`, evaluator `{meta.get('evaluator')}`; "
             f"{meta.get('date')}. Made by `python -m training.evaluate` and `python -m training.metrics.report`.", ""]
    for key in ("language2motion", "motion2language", "qa"):
        status = _get(result, key, "status")
        if status:
            lines += [f"{key}: {status}.", ""]
    lines += ["Language2Motion (attributes read by the annotator vs ground truth; evaluator metrics; the real row's "
              "FID is between two halves of the real set):", ""] + language2motion_table(result) + [""]
    lines += ["Motion2Language (greedy, one reference: the corpus text):", ""] + motion2language_table(result) + [""]
    lines += ["Attributes named by the text vs ground truth:", ""] + attribute_line(result) + [""]
    qa = qa_table(result)
    if qa:
        lines += ["Question answering (exact match):", ""] + qa + [""]
    lines += ["Targets:", ""] + targets(result) + [""]
    return "\n".join(lines)


def update_model_card(path: Path, version: str, markdown: str) -> None:
    """Put ``markdown`` in the card as ``version``'s subsection of the LM evaluation section."""
    text = path.read_text() if path.is_file() else NEW_CARD.format(begin=BEGIN, end=END)
    if BEGIN not in text:
        section = f"### Evaluation\n\n{BEGIN}\n{END}\n"
        match = re.search(r"^## Language model.*$", text, flags=re.MULTILINE)
        if match:
            nxt = re.search(r"^## ", text[match.end():], flags=re.MULTILINE)
            at = match.end() + (nxt.start() if nxt else len(text) - match.end())
            text = text[:at].rstrip("\n") + "\n\n" + section + "\n" + text[at:]
        else:
            text = text.rstrip("\n") + "\n\n## Language model\n\n" + section
    head, rest = text.split(BEGIN, 1)
    body, tail = rest.split(END, 1)
    parts = _VERSION_RE.split(body)  # ['', v1, body1, v2, body2, ...]
    versions = {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts), 2)}
    versions[version] = markdown.strip("\n")
    new_body = "\n".join(f"{VERSION_MARK.format(v)}\n{b}\n" for v, b in versions.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{head}{BEGIN}\n{new_body}{END}{tail}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.metrics.report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("result", type=Path, help="JSON written by python -m training.evaluate --json")
    ap.add_argument("--version", required=True, help="model version name (a subsection of the card)")
    ap.add_argument("--model-card", type=Path, default=None, help="update this model card instead of printing")
    args = ap.parse_args(argv)
    try:
        result = json.loads(args.result.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: {args.result}: {exc}", file=sys.stderr)
        return 2
    markdown = render_markdown(result, args.version)
    if args.model_card:
        update_model_card(args.model_card, args.version, markdown)
        print(f"updated {args.model_card} ({args.version})")
    else:
        print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
