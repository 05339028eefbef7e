#!/usr/bin/env python3
"""Independent reference for `quantctl eval`: a llama2.c tokenizer and forward pass in numpy,
written from the format description in shared/data/README.md and sharing no code with quantd.

It reads the llama2.c .bin model and tokenizer directly, builds the evaluation token stream of the
paragraph protocol (docs/EVAL.md) for the first windows, runs the model in float64, and compares
with what quantctl dumps for the same windows (`quantctl eval --dump-logits FILE`): the input and
target token ids must be equal and the logits equal within a relative tolerance.

  llama2c_reference.py --quantctl BIN --model M.bin --tokenizer T.bin --text FILE
                       [--split paragraphs|lines] [--windows N] [--rtol 1e-4]

Exits 0 when every check passes, 1 with a message otherwise.
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

BOS = 1
WINDOW = 255


def fail(msg):
    print("llama2c_reference: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


# --- tokenizer (llama2.c's run.c rules) --------------------------------------------------------

class Tokenizer:
    def __init__(self, path, vocab_size):
        blob = open(path, "rb").read()
        self.max_token_length = struct.unpack_from("<i", blob, 0)[0]
        off = 4
        self.pieces, self.scores = [], []
        for _ in range(vocab_size):
            score, n = struct.unpack_from("<fi", blob, off)
            off += 8
            self.pieces.append(blob[off:off + n])
            self.scores.append(score)
            off += n
        if off != len(blob):
            fail(f"{path}: {len(blob) - off} trailing bytes after {vocab_size} tokens")
        self.lookup = {}
        for i, p in enumerate(self.pieces):
            self.lookup.setdefault(p, i)
        # Byte fallback needs the pieces <0x00>..<0xFF> at ids 3..258; without them (tok105) an
        # unknown code point is <unk> (0), as in SentencePiece without byte fallback.
        self.byte_fallback = all(
            3 + b < len(self.pieces) and self.pieces[3 + b] == b"<0x%02X>" % b for b in range(256))

    def encode(self, text):
        """Dummy prefix " " (when text is not empty), UTF-8 code points looked up whole, else
        one token 3 + byte per byte (or <unk> without byte pieces), then repeatedly merge the
        leftmost adjacent pair whose concatenation is a token with the highest score. No BOS."""
        data = text.encode("utf-8")
        if not data:
            return []
        ids = [self.lookup[b" "]]
        i = 0
        while i < len(data):
            j = i + 1
            while j < len(data) and (data[j] & 0xC0) == 0x80 and j - i < 4:
                j += 1
            cp = data[i:j]
            if cp in self.lookup:
                ids.append(self.lookup[cp])
            elif self.byte_fallback:
                ids.extend(3 + b for b in cp)
            else:
                ids.append(0)
            i = j
        while True:
            best, best_i, best_id = -1e10, -1, -1
            for k in range(len(ids) - 1):
                t = self.lookup.get(self.pieces[ids[k]] + self.pieces[ids[k + 1]])
                if t is not None and self.scores[t] > best:
                    best, best_i, best_id = self.scores[t], k, t
            if best_i < 0:
                return ids
            ids[best_i:best_i + 2] = [best_id]


def paragraph_stream(tok, path, split, tokens_needed):
    """The protocol's stream: split on blank lines ("paragraphs") or line ends ("lines", after
    "\\r\\n" -> "\\n"), strip, drop empty paragraphs, encode each as paragraph + "\\n"; only as
    many paragraphs as needed for `tokens_needed` tokens."""
    text = open(path, encoding="utf-8", newline="").read().replace("\r\n", "\n")
    stream = []
    for para in text.split("\n\n" if split == "paragraphs" else "\n"):
        para = para.strip()
        if not para:
            continue
        stream.extend(tok.encode(para + "\n"))
        if len(stream) >= tokens_needed:
            break
    return stream


# --- model -------------------------------------------------------------------------------------

class Model:
    def __init__(self, path):
        blob = open(path, "rb").read()
        dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack_from("<7i", blob, 0)
        self.shared = vocab > 0
        vocab = abs(vocab)
        self.dim, self.hidden, self.layers = dim, hidden, layers
        self.heads, self.kv_heads, self.vocab, self.seq = heads, kv_heads, vocab, seq
        hs = dim // heads
        self.head_size = hs
        w = np.frombuffer(blob, dtype="<f4", offset=28).astype(np.float64)
        pos = 0

        def take(*shape):
            nonlocal pos
            n = int(np.prod(shape))
            a = w[pos:pos + n].reshape(shape)
            pos += n
            return a

        self.emb = take(vocab, dim)
        self.rms_att = take(layers, dim)
        self.wq = take(layers, heads * hs, dim)
        self.wk = take(layers, kv_heads * hs, dim)
        self.wv = take(layers, kv_heads * hs, dim)
        self.wo = take(layers, dim, heads * hs)
        self.rms_ffn = take(layers, dim)
        self.w1 = take(layers, hidden, dim)
        self.w2 = take(layers, dim, hidden)
        self.w3 = take(layers, hidden, dim)
        self.rms_final = take(dim)
        pos += seq * hs  # unused RoPE tables
        self.cls = self.emb if self.shared else take(vocab, dim)
        if pos != w.size:
            fail(f"{path}: {w.size - pos} unread floats")

    @staticmethod
    def rmsnorm(x, g):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-5) * g

    def rope(self, x, n_heads):
        # x: [T, n_heads * hs]; rotate pairs (2i, 2i+1) of each head by pos * 10000^(-2i/hs).
        t_len = x.shape[0]
        hs = self.head_size
        x = x.reshape(t_len, n_heads, hs // 2, 2)
        freq = 10000.0 ** (-np.arange(0, hs, 2) / hs)
        ang = np.arange(t_len)[:, None] * freq[None, :]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        a, b = x[..., 0], x[..., 1]
        return np.stack([a * c - b * s, a * s + b * c], axis=-1).reshape(t_len, n_heads * hs)

    def forward(self, tokens):
        """Logits [T, vocab] of a sequence starting at position 0 (causal attention)."""
        t_len, hs = len(tokens), self.head_size
        group = self.heads // self.kv_heads
        x = self.emb[tokens]
        mask = np.triu(np.full((t_len, t_len), -np.inf), 1)
        for l in range(self.layers):
            h = self.rmsnorm(x, self.rms_att[l])
            q = self.rope(h @ self.wq[l].T, self.heads).reshape(t_len, self.heads, hs)
            k = self.rope(h @ self.wk[l].T, self.kv_heads).reshape(t_len, self.kv_heads, hs)
            v = (h @ self.wv[l].T).reshape(t_len, self.kv_heads, hs)
            out = np.empty((t_len, self.heads, hs))
            for hd in range(self.heads):
                kv = hd // group
                att = q[:, hd, :] @ k[:, kv, :].T / np.sqrt(hs) + mask
                att = np.exp(att - att.max(axis=1, keepdims=True))
                att /= att.sum(axis=1, keepdims=True)
                out[:, hd, :] = att @ v[:, kv, :]
            x = x + out.reshape(t_len, -1) @ self.wo[l].T
            h = self.rmsnorm(x, self.rms_ffn[l])
            a = h @ self.w1[l].T
            x = x + ((a / (1.0 + np.exp(-a))) * (h @ self.w3[l].T)) @ self.w2[l].T
        return self.rmsnorm(x, self.rms_final) @ self.cls.T


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# --- quantctl's dump ---------------------------------------------------------------------------

def read_dump(path):
    """Format written by `quantctl eval --dump-logits`: magic "QLOG", int32 positions, int32 vocab,
    int32 input ids [positions], int32 target ids [positions], float32 logits [positions, vocab];
    all little-endian."""
    blob = open(path, "rb").read()
    if blob[:4] != b"QLOG":
        fail(f"{path}: bad magic")
    n, vocab = struct.unpack_from("<ii", blob, 4)
    off = 12
    inputs = np.frombuffer(blob, "<i4", n, off)
    off += 4 * n
    targets = np.frombuffer(blob, "<i4", n, off)
    off += 4 * n
    logits = np.frombuffer(blob, "<f4", n * vocab, off).reshape(n, vocab)
    if off + 4 * n * vocab != len(blob):
        fail(f"{path}: size does not match {n} positions x {vocab}")
    return inputs, targets, logits.astype(np.float64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quantctl", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--split", choices=["paragraphs", "lines"], default="paragraphs")
    ap.add_argument("--windows", type=int, default=2)
    ap.add_argument("--rtol", type=float, default=1e-4)
    args = ap.parse_args()

    model = Model(args.model)
    tok = Tokenizer(args.tokenizer, model.vocab)
    stream = paragraph_stream(tok, args.text, args.split, args.windows * WINDOW)
    if len(stream) < args.windows * WINDOW:
        fail(f"{args.text} gives only {len(stream)} tokens")

    with tempfile.TemporaryDirectory() as work:
        st = os.path.join(work, "model.safetensors")
        dump = os.path.join(work, "logits.bin")
        subprocess.run([args.quantctl, "convert-llama2c", args.model, st], check=True, stdout=subprocess.DEVNULL)
        run = subprocess.run([args.quantctl, "eval", "--model", st, "--tokenizer", args.tokenizer, "--text", args.text,
                              "--split", args.split, "--windows", str(args.windows), "--dump-logits", dump],
                             check=True, capture_output=True, text=True)
        inputs, targets, logits = read_dump(dump)

    if logits.shape != (args.windows * WINDOW, model.vocab):
        fail(f"dump has shape {logits.shape}")
    nll_sum = 0.0
    for w in range(args.windows):
        window = stream[w * WINDOW:(w + 1) * WINDOW]
        feed = [BOS] + window[:-1]
        rows = slice(w * WINDOW, (w + 1) * WINDOW)
        if list(inputs[rows]) != feed or list(targets[rows]) != window:
            bad = next(i for i in range(WINDOW) if inputs[rows][i] != feed[i] or targets[rows][i] != window[i])
            fail(f"window {w}: token ids differ first at position {bad}: quantctl input/target "
                 f"{inputs[rows][bad]}/{targets[rows][bad]}, reference {feed[bad]}/{window[bad]}")
        ref = model.forward(feed)
        err = np.abs(logits[rows] - ref).max() / np.abs(ref).max()
        if not err <= args.rtol:
            fail(f"window {w}: logits differ by {err:.3g} of their largest magnitude (tolerance {args.rtol})")
        nll_sum -= log_softmax(ref)[np.arange(WINDOW), window].sum()
        print(f"window {w}: logits agree to {err:.2e} (relative to max |logit| {np.abs(ref).max():.3f})")
    nll = nll_sum / (args.windows * WINDOW)
    # quantctl prints nll=... for the same windows; it must match the reference's own figure.
    printed = [float(f.split("=")[1]) for f in run.stdout.split() if f.startswith("nll=")]
    if not printed or abs(printed[0] - nll) > 1e-4 * max(1.0, nll):
        fail(f"quantctl printed {run.stdout.strip()!r}; the reference NLL is {nll:.6f}")
    print(f"reference nll={nll:.6f}; quantctl: {run.stdout.strip()}")
    print("llama2c_reference: all checks passed")


if __name__ == "__main__":
    main()
