#!/usr/bin/env python3
"""Writes a tiny, randomly initialised BERT-style sentence encoder as a
tinyhead model directory, with reference vectors computed by PyTorch.

    python3 make_tiny_bert.py OUT_DIR

OUT_DIR gets:
  model.onnx      input_ids, attention_mask, token_type_ids -> last_hidden_state
                  [N,T,H] and pooler_output [N,H] (tanh dense on [CLS])
  pooled.onnx     input_ids, attention_mask -> sentence_embedding [N,H]
                  (mean pooling and L2 normalisation inside the graph)
  tokenizer.json  Hugging Face tokenizers format: BertNormalizer,
                  BertPreTokenizer, WordPiece, [CLS] $A [SEP]
  model.json      tinyhead's model config (mean pooling, normalised)
  reference.json  the texts, their token ids and PyTorch's vectors for each
                  pooling, clipped and windowed

The tokenizer here is written from the BERT/Hugging Face rules (it shares
no code with tinyhead's Go tokenizer), so the Go test checks tokenization
and pooling against an independent implementation. Needs Debian's
python3-torch (and python3-onnx for the exporter). The output is the same
on every run (fixed seed), which internal/bertembed's tests check.
"""
import json
import os
import sys
import unicodedata

import torch

HIDDEN, LAYERS, HEADS, FFN, MAX_POS = 32, 2, 4, 64, 64
MAX_TOKENS = 16  # [CLS] + 14 + [SEP]: long texts are clipped or windowed
WINDOW = {"tokens": 8, "overlap": 2, "max": 4}

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = """the quick brown fox jump over lazy dog hello world cafe naive resume
elan mixed with english token un believ able super cal if rag il is tic ex
pi ali do ci ous tab and new line nb sp control char ok in text side inside
istanbul emoji a an of to""".split()
SUFFIXES = "s ing ed able er ly ize izer ization ation ous ic al".split()
CJK = "中文字日本語"


def vocabulary():
    vocab = list(SPECIALS)
    singles = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    singles += list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + list(CJK) + ["—", "😀"]
    for s in singles + WORDS:
        if s not in vocab:
            vocab.append(s)
    for s in [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)] + SUFFIXES + WORDS:
        if "##" + s not in vocab:
            vocab.append("##" + s)
    return vocab


# --- reference tokenizer (BERT's BasicTokenizer + WordPiece, HF's order) ---

WHITE_SPACE = set([0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029,
                   0x202F, 0x205F, 0x3000] + list(range(0x2000, 0x200B)))


def is_whitespace(c):
    return ord(c) in WHITE_SPACE


def is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c).startswith("C")


def is_punct(c):
    return (c.isascii() and c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") or unicodedata.category(c).startswith("P")


def is_cjk(c):
    cp = ord(c)
    return any(lo <= cp <= hi for lo, hi in [
        (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)])


def normalize(text):
    out = []
    for c in text:  # clean text
        if ord(c) == 0 or ord(c) == 0xFFFD or is_control(c):
            continue
        out.append(" " if is_whitespace(c) else c)
    text = "".join(" " + c + " " if is_cjk(c) else c for c in out)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return "".join(c.lower() for c in text)


def pre_tokenize(text):
    words, cur = [], ""
    for c in text:
        if is_whitespace(c) or is_punct(c):
            if cur:
                words.append(cur)
            cur = ""
            if is_punct(c):
                words.append(c)
        else:
            cur += c
    if cur:
        words.append(cur)
    return words


def wordpiece(word, ids):
    if len(word) > 100:
        return [ids["[UNK]"]]
    out, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in ids:
                out.append(ids[piece])
                break
            end -= 1
        if end == start:
            return [ids["[UNK]"]]
        start = end
    return out


def tokenize(text, ids):
    """Token ids of text without [CLS]/[SEP]; special tokens written in the
    text are kept as themselves (HF's added tokens, matched before
    normalisation)."""
    out, rest = [], text
    while rest:
        hits = [(rest.find(s), -len(s), s) for s in SPECIALS if s in rest]
        if not hits:
            break
        at, _, s = min(hits)
        out += [i for w in pre_tokenize(normalize(rest[:at])) for i in wordpiece(w, ids)]
        out.append(ids[s])
        rest = rest[at + len(s):]
    out += [i for w in pre_tokenize(normalize(rest)) for i in wordpiece(w, ids)]
    return out


# --- the encoder ---

class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = torch.nn.Linear(HIDDEN, 3 * HIDDEN)
        self.out = torch.nn.Linear(HIDDEN, HIDDEN)
        self.ln1 = torch.nn.LayerNorm(HIDDEN, eps=1e-12)
        self.ff1 = torch.nn.Linear(HIDDEN, FFN)
        self.ff2 = torch.nn.Linear(FFN, HIDDEN)
        self.ln2 = torch.nn.LayerNorm(HIDDEN, eps=1e-12)

    def forward(self, x, bias):
        n, t, _ = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, HEADS, HIDDEN // HEADS).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / (HIDDEN // HEADS) ** 0.5 + bias, dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(n, t, HIDDEN)
        x = self.ln1(x + self.out(ctx))
        return self.ln2(x + self.ff2(torch.nn.functional.gelu(self.ff1(x))))


class TinyBert(torch.nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.word = torch.nn.Embedding(vocab_size, HIDDEN)
        self.pos = torch.nn.Embedding(MAX_POS, HIDDEN)
        self.types = torch.nn.Embedding(2, HIDDEN)
        self.ln = torch.nn.LayerNorm(HIDDEN, eps=1e-12)
        self.layers = torch.nn.ModuleList([Layer() for _ in range(LAYERS)])
        self.pooler = torch.nn.Linear(HIDDEN, HIDDEN)

    def forward(self, input_ids, attention_mask, token_type_ids):
        pos = torch.arange(input_ids.shape[1]).unsqueeze(0)
        x = self.ln(self.word(input_ids) + self.pos(pos) + self.types(token_type_ids))
        bias = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        return x, torch.tanh(self.pooler(x[:, 0]))


def mean_pool(hidden, mask):
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


class Pooled(torch.nn.Module):
    """A sentence-transformers style export: the pooled, normalised vector."""

    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask):
        hidden, _ = self.bert(input_ids, attention_mask, torch.zeros_like(input_ids))
        return torch.nn.functional.normalize(mean_pool(hidden, attention_mask), dim=-1)


TEXTS = [
    "Hello, world!",
    "Café naïve résumé — ÉLAN",
    "中文字 mixed with English 漢",
    "unbelievable tokenization",
    "supercalifragilisticexpialidocious",
    "xyzzy жук straße",
    "a" * 101,
    "tabs\tand\nnew\u00a0lines\u2003ok",
    "control\u0000char\ufffd\u200bok",
    "join\u000bed\u0085ok not\u000cin",
    "İstanbul",
    "[SEP] inside [MASK]text",
    "emoji 😀 ok",
    "$5 + 3 = 8 | ok?",
    "The quick brown fox jumps over the lazy dog. " * 5,
]


def windows(tokens):
    w, o, cap = WINDOW["tokens"], WINDOW["overlap"], WINDOW["max"]
    stride = w - o
    out = [tokens[s:s + w] for s in range(0, max(1, len(tokens) - o), stride)]
    if len(out) > cap:
        out = out[:(cap + 1) // 2] + out[len(out) - cap // 2:]
    return out


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(13)
    vocab = vocabulary()
    ids = {t: i for i, t in enumerate(vocab)}
    bert = TinyBert(len(vocab)).eval()
    with torch.no_grad():  # larger weights, so that texts differ clearly
        for p in bert.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.3)

    def run(token_lists):
        """[CLS] tokens [SEP] one at a time, unpadded."""
        res = []
        for toks in token_lists:
            t = torch.tensor([[ids["[CLS]"]] + toks + [ids["[SEP]"]]])
            with torch.no_grad():
                hidden, pooled = bert(t, torch.ones_like(t), torch.zeros_like(t))
            res.append((hidden[0], pooled[0]))
        return res

    def unit(v):
        return torch.nn.functional.normalize(v, dim=-1)

    ref = {"texts": TEXTS, "ids": [], "vectors": {"mean": [], "mean_raw": [], "cls": [], "pooler": [], "windowed": []}}
    for text in TEXTS:
        toks = tokenize(text, ids)
        clipped = toks[:MAX_TOKENS - 2]
        ref["ids"].append([ids["[CLS]"]] + clipped + [ids["[SEP]"]])
        (hidden, pooled), = run([clipped])
        ref["vectors"]["mean"].append(unit(hidden.mean(0)).tolist())
        ref["vectors"]["mean_raw"].append(hidden.mean(0).tolist())
        ref["vectors"]["cls"].append(hidden[0].tolist())
        ref["vectors"]["pooler"].append(pooled.tolist())
        wins = [unit(h.mean(0)) for h, _ in run(windows(toks))]
        ref["vectors"]["windowed"].append(unit(torch.stack(wins).mean(0)).tolist())
    ref["window"] = WINDOW

    example = (torch.tensor([[2, 5, 3], [2, 3, 0]]), torch.tensor([[1, 1, 1], [1, 1, 0]]))
    dyn = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    torch.onnx.export(bert, example + (torch.zeros_like(example[0]),), os.path.join(out_dir, "model.onnx"),
                      input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["last_hidden_state", "pooler_output"],
                      dynamic_axes=dict(dyn, token_type_ids={0: "batch", 1: "tokens"},
                                        last_hidden_state={0: "batch", 1: "tokens"}, pooler_output={0: "batch"}),
                      opset_version=14)
    torch.onnx.export(Pooled(bert), example, os.path.join(out_dir, "pooled.onnx"),
                      input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
                      dynamic_axes=dict(dyn, sentence_embedding={0: "batch"}), opset_version=14)

    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": ids[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for s in SPECIALS],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {s: {"id": s, "ids": [ids[s]], "tokens": [s]} for s in ["[CLS]", "[SEP]"]},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids},
    }
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False, indent=1)
        f.write("\n")
    info = {"id": "tiny-bert-test", "format": "bert", "dim": HIDDEN, "max_tokens": MAX_TOKENS,
            "model": "model.onnx", "vocab": "tokenizer.json", "pooling": "mean", "normalize": True,
            "source": "internal/bertembed/testdata/make_tiny_bert.py (random weights)", "license": "MIT",
            "converter": "torch.onnx.export " + torch.__version__}
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
