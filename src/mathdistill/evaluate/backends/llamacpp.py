"""The llama.cpp backend: many sequences decoded together in one batch, in one process.

    backend = LlamaCppBackend("student.q8_0.gguf", parallel=8)
    texts = backend.generate(prompts, max_new_tokens=160)

On a CPU, one stream leaves most of the machine idle while it waits on memory, and two processes
side by side do not add up (measured on a 2-core AVX2 machine: one stream 57 tokens/s, two
1-thread processes 18 + 18). Throughput comes from decoding several sequences per forward pass:
this backend keeps `parallel` sequences in flight with llama.cpp's low-level API (one
`llama_batch` holding the next token of every live sequence, each under its own sequence id),
takes each sequence's last-token logits, picks the argmax (greedy, as the transformers backend;
or, at a temperature, a draw with the prompt's own seeded generator: `sampling.pick`), and when
a sequence stops (its own end of sequence, `max_new_tokens`, or a full context) clears its KV
cache and fills the slot with the next prompt's tokens in the same batch: continuous batching.
Every sequence attends only to its own cache (`kv_unified` off), so batching does not change
what a sequence sees, and the kernels are chosen so that batching does not change a
sequence's tokens either (see `generate`; repacked 4-bit weights are off unless `repack=True`).

Prompts are tokenized exactly as the HF tokenizer does for training (special tokens parsed, BOS
only where the GGUF says the tokenizer adds one: SmolLM2 adds none); `mathdistill export` checks
that parity for every file it writes (one known difference, in no benchmark file: llama.cpp's SmolLM2
pre-tokenizer splits a space before a non-ASCII numeral such as " ½" off it). The model is a `.gguf` file, or anything `resolve_hf`
accepts (a trained run's `model/`, a registry name), which is first converted to an f16 GGUF in
the cache by llama.cpp's own converter (`gguf_for`). Stopping follows llama.cpp's end-of-generation
set (for SmolLM2 `<|im_end|>`, `<|endoftext|>` and one more), a superset of the transformers
backend's single EOS id.

The converter, the quantizer and the GGUF tokenizer are in `models.to_gguf` (`export` uses them too).
"""

from __future__ import annotations

import ctypes
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ...models import ModelError
from ...models.to_gguf import ClosesOnExit, cores, gguf_for, import_llama_cpp, llama_cpp_version, tokenize
from .sampling import generators, pick


@dataclass
class _Slot:
    index: int  # which prompt
    pos: int  # next position in this sequence
    tokens: list[int] = field(default_factory=list)  # generated so far
    pending: int | None = None  # sampled, not yet decoded


class LlamaCppBackend(ClosesOnExit):
    """A GGUF model in this process, `parallel` sequences decoded per batch (continuous batching)."""

    name = "llamacpp"

    def __init__(self, model: str, parallel: int = 16, threads: int | None = None, n_ctx: int | None = None,
                 quant: str = "f16", repack: bool = False):
        """`n_ctx`: context per sequence (prompt + completion); by default sized to each `generate`
        call's longest prompt + max_new_tokens. `quant`: the type a checkpoint dir is converted to.
        `repack`: let llama.cpp repack Q4_0/Q4_K/IQ4_NL weights for its faster kernels, at the price
        of texts that can change with the batch's size (off: batching never changes a text)."""
        if parallel < 1:
            raise ValueError(f"parallel must be at least 1; got {parallel}")
        self.llama_cpp = import_llama_cpp()
        self.model = model
        self.path = gguf_for(model, quant)
        self.parallel = parallel
        self.threads = threads or cores()
        self.n_ctx = n_ctx
        self._ctx = None
        self._batch = None
        self._n_batch = 0
        self._ctx_seq = 0
        lc = self.llama_cpp
        lc.llama_backend_init()
        params = lc.llama_model_default_params()
        params.n_gpu_layers = 0
        # no repacked weights: llama.cpp's repacked Q4_0/Q4_K/IQ4_NL kernels compute rows in groups
        # of four (gemm) and the rest one by one (gemv), which round differently, so a sequence's text
        # would depend on how many others share its batch (measured: q4_k_m SmolLM2, 4 of 12 texts
        # changed with parallel=4). Plain kernels cost ~10% there; f16/q8_0 are never repacked.
        params.use_extra_bufts = repack
        self._model = lc.llama_model_load_from_file(str(self.path).encode(), params)
        if not self._model:
            raise ModelError(f"llama.cpp could not load {self.path} (an architecture or GGUF version this "
                             f"llama-cpp-python {llama_cpp_version()} does not know?)")
        self._vocab = lc.llama_model_get_vocab(self._model)
        self.n_vocab = lc.llama_vocab_n_tokens(self._vocab)
        self.add_bos = bool(lc.llama_vocab_get_add_bos(self._vocab))
        self._eog = {t for t in range(self.n_vocab) if lc.llama_vocab_is_eog(self._vocab, t)}

    # -- text <-> tokens ------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        """Token ids as the HF tokenizer gives them (`tokenizer(text).input_ids`)."""
        return tokenize(self.llama_cpp, self._vocab, text)

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text of generated tokens, special tokens left out (as `skip_special_tokens=True`)."""
        out = bytearray()
        buf = ctypes.create_string_buffer(256)
        for t in tokens:
            n = self.llama_cpp.llama_token_to_piece(self._vocab, t, buf, len(buf), 0, False)
            if n < 0:  # pragma: no cover  (a piece over 256 bytes)
                big = ctypes.create_string_buffer(-n)
                n = self.llama_cpp.llama_token_to_piece(self._vocab, t, big, len(big), 0, False)
                out += big.raw[:n]
            else:
                out += buf.raw[:n]
        return out.decode("utf-8", errors="replace")

    # -- context --------------------------------------------------------------------------------
    def _ensure_context(self, ctx_seq: int, n_batch: int) -> None:
        """A context holding `parallel` sequences of at least `ctx_seq` tokens each (recreated when
        a call needs more), and a batch of `n_batch` tokens."""
        lc = self.llama_cpp
        if self._ctx is not None and self._ctx_seq >= ctx_seq and self._n_batch >= n_batch:
            return
        self._free_context()
        ctx_seq = max(ctx_seq, self.n_ctx or 0)
        ctx_seq = -(-ctx_seq // 256) * 256
        n_batch = max(512, -(-n_batch // 256) * 256)
        params = lc.llama_context_default_params()
        params.n_ctx = ctx_seq * (self.parallel + 1)
        params.n_seq_max = self.parallel + 1  # + the padding sequence (generate)
        params.n_batch = n_batch
        params.n_ubatch = min(n_batch, 512)
        params.n_threads = params.n_threads_batch = self.threads
        params.kv_unified = False  # each sequence attends to its own cache
        params.no_perf = True
        self._ctx = lc.llama_init_from_model(self._model, params)
        if not self._ctx:
            raise ModelError(f"llama.cpp could not create a context of {self.parallel} x {ctx_seq} tokens "
                             f"for {self.path} (out of memory?)")
        self._ctx_seq = lc.llama_n_ctx_seq(self._ctx)
        self._n_batch = n_batch
        self._batch = lc.llama_batch_init(n_batch, 0, 1)
        self._mem = lc.llama_get_memory(self._ctx)

    def _free_context(self) -> None:
        lc = self.llama_cpp
        if self._batch is not None:
            lc.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx is not None:
            lc.llama_free(self._ctx)
            self._ctx = None
        self._ctx_seq = self._n_batch = 0

    # -- generation -----------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], max_new_tokens: int, progress: Callable[[int], None] | None = None,
                 *, temperature: float = 0.0, seeds: Sequence[int] | None = None) -> list[str]:
        """Completions of `prompts`, in input order, `parallel` at a time: greedy at temperature 0,
        else each token drawn from softmax(logits / temperature) with prompt i's own generator,
        seeded by seeds[i] (default i), so its random draws do not depend on what shares its batch.
        (Its logits can: measured on SmolLM2 f16, a prompt started beside sequences already a dozen
        tokens along had logits up to ~0.03 off the lone run's after a dozen tokens of its own;
        greedy texts held, one of six sampled texts changed. See tests/test_sample.py.)

        Batching does not change a sequence's tokens: each prompt is decoded alone (as with
        parallel=1), and every generation step holds at least two rows with logits (a dummy
        sequence pads a lone one), because llama.cpp's CPU matmul takes another kernel for a single
        row (`ggml_vec_dot`) than for several (tinyBLAS) and the two round differently. tinyBLAS and
        the vec_dot path compute each output from its own row alone, whatever the batch holds.
        """
        import numpy as np

        rngs = generators(len(prompts), temperature, seeds)
        if not prompts:
            return []
        encoded = [self.tokenize(p) for p in prompts]
        if any(not e for e in encoded):
            raise ValueError("empty prompt: nothing to condition the generation on")
        if max_new_tokens < 1:
            return [""] * len(prompts)
        longest = max(len(e) for e in encoded)
        self._ensure_context(longest + max_new_tokens, max(longest, self.parallel + 1))
        if longest >= self._ctx_seq:
            raise ValueError(f"a prompt of {longest} tokens does not fit the context of {self._ctx_seq}")
        lc, ctx, batch, mem = self.llama_cpp, self._ctx, self._batch, self._mem
        dummy = self.parallel  # the padding sequence's id
        out: list[str] = [""] * len(prompts)
        queue = deque(range(len(prompts)))
        slots: list[_Slot | None] = [None] * self.parallel

        def add(token: int, pos: int, seq: int, logits: bool) -> int:
            k = batch.n_tokens
            batch.token[k] = token
            batch.pos[k] = pos
            batch.n_seq_id[k] = 1
            batch.seq_id[k][0] = seq
            batch.logits[k] = int(logits)
            batch.n_tokens = k + 1
            return k

        def decode() -> None:
            rc = lc.llama_decode(ctx, batch)
            if rc != 0:
                raise RuntimeError(f"llama_decode failed with code {rc} ({batch.n_tokens} tokens, "
                                   f"{sum(x is not None for x in slots)} sequences)")

        def step(s: int, k: int) -> None:
            """Take slot s's next token from logits row k; finish the sequence or keep it going."""
            slot = slots[s]
            logits = np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, k), shape=(self.n_vocab,))
            token = pick(logits, temperature, rngs[slot.index] if rngs else None)
            if token not in self._eog:
                slot.tokens.append(token)
                if len(slot.tokens) < max_new_tokens and slot.pos < self._ctx_seq:
                    slot.pending = token
                    return
            out[slot.index] = self.detokenize(slot.tokens).strip()
            lc.llama_memory_seq_rm(mem, s, -1, -1)
            slots[s] = None
            if progress:
                progress(1)

        while queue or any(slots):
            for s in range(self.parallel):  # fill free slots: each prompt alone, its first token
                while slots[s] is None and queue:
                    i = queue.popleft()
                    batch.n_tokens = 0
                    for j, t in enumerate(encoded[i]):
                        k = add(t, j, s, j == len(encoded[i]) - 1)
                    decode()
                    slots[s] = _Slot(i, len(encoded[i]))
                    step(s, k)
            live = [s for s, slot in enumerate(slots) if slot is not None]
            if not live:
                continue
            batch.n_tokens = 0
            rows = []
            for s in live:  # one generation step of every live sequence
                slot = slots[s]
                rows.append((s, add(slot.pending, slot.pos, s, True)))
                slot.pos += 1
            if len(rows) == 1:
                add(batch.token[rows[0][1]], 0, dummy, True)
            decode()
            if len(rows) == 1:
                lc.llama_memory_seq_rm(mem, dummy, -1, -1)
            for s, k in rows:
                step(s, k)
        return out

    def close(self) -> None:
        self._free_context()
        if getattr(self, "_model", None):
            self.llama_cpp.llama_model_free(self._model)
            self._model = None

    def __del__(self) -> None:  # a backend dropped without close() still frees its memory
        try:
            self.close()
        except Exception:  # noqa: BLE001  (interpreter shutdown)
            pass
