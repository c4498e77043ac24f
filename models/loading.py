"""Where models come from and where they run. No Streamlit here.

Weights are looked for, in order:
1. the local model directory named by `LECTURE_LAB_MODEL_DIR` (one folder per registry key,
   as written by `scripts/prefetch_models.py`);
2. the local Hugging Face cache (what an earlier online run or `huggingface-cli download` left);
3. the Hugging Face Hub, but only after a short probe says it answers, so an offline
   classroom gets a clear message within seconds instead of a hang on retries.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import torch

from models.limits import HUB_PROBE_TIMEOUT_S
from models.memory import release_freed_memory
from models.quantize import INT8_FAMILIES, INT8_NOTICE, int8_requested, quantize_int8
from models.registry import ModelEntry, get_entry

MODEL_DIR_ENV = "LECTURE_LAB_MODEL_DIR"
DEVICE_ENV = "LECTURE_LAB_DEVICE"
PREFETCH_COMMAND = "python scripts/prefetch_models.py"

SourceKind = Literal["local-dir", "package", "cache", "hub"]


class ModelUnavailable(RuntimeError):
    """A model cannot be loaded; `reason` says why and `fix` what to do about it."""

    def __init__(self, entry: ModelEntry, reason: str, fix: str | None = None) -> None:
        self.entry = entry
        self.reason = reason
        self.fix = fix or (
            f"On a machine with internet, run `{PREFETCH_COMMAND} --only {entry.key}` "
            f"(add `--dir FOLDER` and set {MODEL_DIR_ENV}=FOLDER to use a classroom copy), "
            "then press Retry."
        )
        super().__init__(f"{entry.display_name} ({entry.hub_id}) is not available: {reason}. {self.fix}")


# ---------------------------------------------------------------------------------------
# Device and dtype


@dataclass(frozen=True)
class DeviceChoice:
    """Where models run: `device` is a torch device string, `label` is for people."""

    device: str
    dtype: torch.dtype
    label: str


def choose_device(preference: str | None = None) -> DeviceChoice:
    """CUDA (fp16) when a GPU is there, else Apple's MPS, else the CPU (fp32).

    `preference` (or the LECTURE_LAB_DEVICE variable) can force "cpu", "cuda" or "mps";
    an unavailable preference falls back to the automatic choice.
    """
    wanted = (preference or os.environ.get(DEVICE_ENV, "")).strip().lower()
    cuda_ok = torch.cuda.is_available()
    mps_ok = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if wanted == "cpu":
        return _cpu_choice()
    if cuda_ok and wanted in ("", "cuda"):
        name = torch.cuda.get_device_name(0)
        # Half precision halves memory and roughly doubles throughput on any recent GPU;
        # the demos show probabilities to two decimals, far above fp16's error.
        return DeviceChoice("cuda", torch.float16, f"CUDA GPU: {name} (fp16)")
    if mps_ok and wanted in ("", "mps"):
        return DeviceChoice("mps", torch.float32, "Apple GPU (MPS, fp32)")
    return _cpu_choice()


def _cpu_choice() -> DeviceChoice:
    return DeviceChoice("cpu", torch.float32, f"CPU ({torch.get_num_threads()} threads, fp32)")


# ---------------------------------------------------------------------------------------
# Where weights come from


@dataclass(frozen=True)
class ModelSource:
    """Where one model's weights will be read from; `location` is a path or hub id."""

    kind: SourceKind
    location: str


def local_model_dir() -> Path | None:
    value = os.environ.get(MODEL_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def local_folder_for(entry: ModelEntry) -> Path | None:
    """The entry's folder under the local model directory, if that variable is set."""
    root = local_model_dir()
    return root / entry.key if root else None


def local_folder_problem(entry: ModelEntry, folder: Path) -> str | None:
    """None when `folder` looks complete for `entry`, else what is missing."""
    config = "open_clip_config.json" if entry.family == "clip" else "config.json"
    if not (folder / config).is_file():
        return f"{folder} has no {config}"
    weights = [*folder.glob("*.safetensors"), *folder.glob("*.bin"), *folder.glob("*.pth")]
    if not weights:
        return f"{folder} has no weights file (*.safetensors or *.bin)"
    if entry.family != "clip" and not any(
        (folder / name).is_file() for name in ("tokenizer.json", "vocab.txt", "vocab.json")
    ):
        return f"{folder} has no tokenizer files"
    return None


def clip_hub_files(entry: ModelEntry) -> tuple[str, tuple[str, ...]]:
    """The hub repo holding an open_clip pretrained tag, and its candidate file names."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(entry.hub_id, entry.pretrained or "")
    # open_clip writes "org/repo/" for the default file name, "org/repo/file.bin" otherwise.
    repo, filename = os.path.split(cfg["hf_hub"])
    names = (filename,) if filename else ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    return repo, names


def _cached_file(repo: str, filename: str) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename)
    return found if isinstance(found, str) and os.path.isfile(found) else None


def _in_hf_cache(entry: ModelEntry) -> str | None:
    """Path of the cached weights (CLIP) or config (transformers), if any."""
    if entry.family == "clip":
        repo, names = clip_hub_files(entry)
        for name in names:
            path = _cached_file(repo, name)
            if path:
                return path
        return None
    return _cached_file(entry.hub_id, "config.json")


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def probe_hub(timeout_s: float = HUB_PROBE_TIMEOUT_S) -> str | None:
    """None when the hub answers within `timeout_s`, else why not.

    Runs in a thread with a hard deadline because name resolution ignores socket timeouts:
    a machine with no network can otherwise sit in DNS retries for half a minute.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    url = f"{hub_endpoint()}/api/models/gpt2"

    def ask() -> None:
        request = urllib.request.Request(url, method="HEAD")
        try:
            # The socket may wait a little longer than the deadline below, which decides.
            urllib.request.urlopen(request, timeout=timeout_s + 1).close()
        except urllib.error.HTTPError:
            pass  # any HTTP answer at all means the hub is reachable

    silent = f"the Hugging Face Hub ({hub_endpoint()}) did not answer within {timeout_s:.0f} s"
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(ask).result(timeout=timeout_s)
        return None
    except (concurrent.futures.TimeoutError, TimeoutError):
        return silent
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            return silent
        return f"the Hugging Face Hub ({hub_endpoint()}) cannot be reached (URLError)"
    except Exception as error:  # OSError, ssl errors: all mean "not reachable"
        return f"the Hugging Face Hub ({hub_endpoint()}) cannot be reached ({type(error).__name__})"
    finally:
        pool.shutdown(wait=False)


def find_local_source(entry: ModelEntry) -> tuple[ModelSource | None, str | None]:
    """The local folder or cache copy of `entry`, without touching the network.

    Returns (source, None) when found, else (None, what is wrong with the local folder, if any).
    """
    folder = local_folder_for(entry)
    local_problem = None
    if folder is not None:
        if folder.is_dir():
            local_problem = local_folder_problem(entry, folder)
            if local_problem is None:
                return ModelSource("local-dir", str(folder)), None
        else:
            local_problem = f"{folder} does not exist"
    packaged = packaged_folder(entry)
    if packaged is not None:
        return ModelSource("package", str(packaged)), None
    cached = _in_hf_cache(entry)
    if cached:
        return ModelSource("cache", cached), None
    return None, local_problem


def packaged_folder(entry: ModelEntry) -> Path | None:
    """The weights folder inside the installed package that ships `entry` (see ModelEntry.package), if complete."""
    if entry.package is None:
        return None
    import importlib.util

    name, _, subfolder = entry.package.partition("/")
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / subfolder
    return folder if folder.is_dir() and local_folder_problem(entry, folder) is None else None


def resolve_source(entry: ModelEntry, *, probe: Callable[[], str | None] = probe_hub) -> ModelSource:
    """The first place in the search order that has `entry`; raises ModelUnavailable."""
    source, local_problem = find_local_source(entry)
    if source is not None:
        return source
    hub_problem = probe()
    if hub_problem is None:
        return ModelSource("hub", entry.hub_id)
    reasons = [f"not in the local Hugging Face cache, and {hub_problem}"]
    if local_problem:
        reasons.insert(0, f"the local model folder is incomplete ({local_problem})")
    raise ModelUnavailable(entry, "; ".join(reasons))


# ---------------------------------------------------------------------------------------
# Loading


@dataclass
class LoadedModel:
    """A model ready for inference, shared read-only by every browser session.

    `tokenizer` is a transformers tokenizer, or open_clip's tokenizer for CLIP;
    `preprocess` is CLIP's image transform (None for text models). `engine` (models/engine.py,
    created on first use) runs every inference on the model, batching what all students ask at once.
    """

    entry: ModelEntry
    model: torch.nn.Module
    tokenizer: Any
    preprocess: Callable[[Any], torch.Tensor] | None
    device: str
    dtype: torch.dtype
    source: ModelSource
    load_seconds: float
    notice: str | None = None
    engine: Any = field(default=None, repr=False, compare=False)
    int8: bool = False

    @property
    def identity(self) -> str:
        """What a cached result computed with this model depends on: the model, where it runs, in what precision.
        Pages key their caches on it, so a result from the GPU in fp16 (or int8 weights) is never served as the
        CPU's fp32 one."""
        precision = "int8" if self.int8 else str(self.dtype).removeprefix("torch.")
        return f"{self.entry.key}@{self.device}/{precision}/{self.source.kind}:{self.source.location}"


def load_model(
    key: str,
    device: DeviceChoice | None = None,
    *,
    probe: Callable[[], str | None] = probe_hub,
) -> LoadedModel:
    """Load registry model `key` on `device` (default: `choose_device()`), in eval mode."""
    entry = get_entry(key)
    device = device or choose_device()
    source = resolve_source(entry, probe=probe)
    started = time.perf_counter()
    try:
        # One load at a time in the whole process: transformers keeps global state while it builds a model,
        # and two models loading at once in two threads (a student on fill-mask, another on generation)
        # were seen to come out with their tied output weights never filled in (left on the meta device).
        with _loading:
            if entry.family == "clip":
                model, tokenizer, preprocess = _load_clip(entry, source)
            else:
                model, tokenizer = _load_transformers(entry, source)
                preprocess = None
        _check_filled(model)
    except ModelUnavailable:
        raise
    except Exception as error:
        raise ModelUnavailable(
            entry,
            f"loading from {source.kind} {source.location} failed ({type(error).__name__}: {error})",
            fix=(
                "The files may be incomplete (an interrupted download). Delete that folder or cache entry, "
                f"run `{PREFETCH_COMMAND} --only {entry.key}` again, then press Retry."
            ),
        ) from error
    model.eval()
    model, placed, notice = _place(model, device)
    int8 = placed.device == "cpu" and entry.family in INT8_FAMILIES and int8_requested()
    if int8:
        model = quantize_int8(model)
        notice = " ".join(filter(None, [notice, INT8_NOTICE]))
    release_freed_memory()
    return LoadedModel(
        entry=entry,
        model=model,
        tokenizer=tokenizer,
        preprocess=preprocess,
        device=placed.device,
        dtype=placed.dtype,
        source=source,
        load_seconds=time.perf_counter() - started,
        notice=notice,
        int8=int8,
    )


_loading = threading.Lock()


def load_tokenizer(key: str, *, probe: Callable[[], str | None] = probe_hub) -> Any:
    """A transformers model's tokenizer alone, found where its model would be: what the Generation page needs
    when a generation server runs the model itself. Raises ModelUnavailable."""
    from transformers import AutoTokenizer

    entry = get_entry(key)
    source = resolve_source(entry, probe=probe)
    local = source.kind in ("local-dir", "package")
    try:
        return AutoTokenizer.from_pretrained(
            source.location if local else entry.hub_id, local_files_only=local or source.kind == "cache"
        )
    except Exception as error:
        raise ModelUnavailable(
            entry,
            f"its tokenizer did not load from {source.kind} {source.location} ({type(error).__name__}: {error})",
            fix=f"Run `{PREFETCH_COMMAND} --only {entry.key}` again, then press Retry.",
        ) from error


def _check_filled(model: torch.nn.Module) -> None:
    """Refuse a model with tensors that were never read from the weights file (still on the meta device)."""
    empty = [name for name, tensor in (*model.named_parameters(), *model.named_buffers()) if tensor.is_meta]
    if empty:
        raise RuntimeError(f"these weights were never filled in: {', '.join(empty[:5])}")


def _place(model: torch.nn.Module, device: DeviceChoice) -> tuple[torch.nn.Module, DeviceChoice, str | None]:
    """Move to `device`; if that fails (out of GPU memory, a driver fault) stay on the CPU."""
    if device.device == "cpu":
        return model.to(dtype=torch.float32), device, None
    try:
        return model.to(device=device.device, dtype=device.dtype), device, None
    except Exception as error:  # torch raises RuntimeError subclasses and AcceleratorError
        cpu = _cpu_choice()
        if device.device == "cuda":
            torch.cuda.empty_cache()
        notice = f"Could not load on {device.label} ({type(error).__name__}); running on the CPU instead."
        return model.to(device="cpu", dtype=torch.float32), cpu, notice


def _load_transformers(entry: ModelEntry, source: ModelSource) -> tuple[torch.nn.Module, Any]:
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    auto = {"causal-lm": AutoModelForCausalLM, "sentence-encoder": AutoModel}.get(entry.family, AutoModelForMaskedLM)
    if source.kind in ("local-dir", "package"):
        where, local_only = source.location, True
    else:
        where, local_only = entry.hub_id, source.kind == "cache"
    # Eager attention: the SDPA kernels return no attention weights, and the attention
    # page needs them from the very same model object the other pages use.
    model = auto.from_pretrained(where, attn_implementation="eager", dtype=torch.float32, local_files_only=local_only)
    tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=local_only)
    # Without its vocabulary files (an interrupted download) transformers builds a tokenizer that knows
    # only the special tokens, instead of failing; every text would then become [UNK] or nothing at all.
    if len(tokenizer) < model.get_input_embeddings().num_embeddings // 2:
        raise OSError(
            f"the tokenizer knows {len(tokenizer)} tokens, the model {model.config.vocab_size}: "
            "its vocabulary files are missing"
        )
    return model, tokenizer


def _load_clip(entry: ModelEntry, source: ModelSource) -> tuple[torch.nn.Module, Any, Callable]:
    import open_clip

    if source.kind == "local-dir":
        name, options = f"local-dir:{source.location}", {}
        checkpoint = _clip_checkpoint_in(Path(source.location))
    else:
        checkpoint = source.location if source.kind == "cache" else _download_clip_weights(entry)
        # A file path as `pretrained` skips the tag's settings, so pass them on ourselves.
        cfg = open_clip.get_pretrained_cfg(entry.hub_id, entry.pretrained or "")
        name = entry.hub_id
        options = {
            "pretrained": checkpoint,
            "force_quick_gelu": bool(cfg.get("quick_gelu", False)),
            "force_preprocess_cfg": {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in cfg},
        }
    # The weights are read below, so open_clip's "initialized randomly" warning would only mislead.
    quiet = _DropMessage("initialized randomly")
    logging.getLogger().addFilter(quiet)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, load_weights=False, **options)
    finally:
        logging.getLogger().removeFilter(quiet)
    _read_clip_weights(model, checkpoint)
    return model, open_clip.get_tokenizer(name), preprocess


class _DropMessage(logging.Filter):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


def _clip_checkpoint_in(folder: Path) -> str:
    for pattern in ("*.safetensors", "*.bin", "*.pth"):
        found = sorted(folder.glob(pattern))
        if found:
            return str(found[0])
    raise FileNotFoundError(f"no weights file (.safetensors, .bin or .pth) in {folder}")


def _download_clip_weights(entry: ModelEntry) -> str:
    from huggingface_hub import hf_hub_download

    repo, names = clip_hub_files(entry)
    last_error: Exception | None = None
    for filename in names:
        try:
            return hf_hub_download(repo_id=repo, filename=filename)
        except Exception as error:  # the repo may hold only one of the candidate formats
            last_error = error
    raise FileNotFoundError(f"no weights file for {entry.display_name} in {repo}: {last_error}")


def _read_clip_weights(model: torch.nn.Module, checkpoint: str) -> None:
    """Read the checkpoint into `model`'s own tensors.

    open_clip's loader holds the whole state dict beside the model, and a memory-mapped safetensors
    file counts in the server's resident memory while it is open: either way CLIP's 600 MB briefly
    doubles, too much under Community Cloud's memory limit. A safetensors file in open_clip's own
    layout is read tensor by tensor straight into the parameters instead; anything else (old .bin
    files, third-party layouts that need open_clip's key conversions) goes through open_clip's loader.
    """
    import open_clip

    if not (checkpoint.endswith(".safetensors") and _read_safetensors_into(model.state_dict(), Path(checkpoint))):
        open_clip.load_checkpoint(model, checkpoint)


_SAFETENSORS_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def _read_safetensors_into(targets: dict[str, torch.Tensor], path: Path) -> bool:
    """Fill `targets` from a safetensors file with plain reads; False (nothing written) if it does not fit."""
    import json

    with path.open("rb") as file:
        header_size = int.from_bytes(file.read(8), "little")
        header = json.loads(file.read(header_size))
        header.pop("__metadata__", None)
        if set(header) != set(targets) or any(
            info["dtype"] not in _SAFETENSORS_DTYPES or list(info["shape"]) != list(targets[name].shape)
            for name, info in header.items()
        ):
            return False
        data_start = 8 + header_size
        with torch.no_grad():
            for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
                begin, end = info["data_offsets"]
                file.seek(data_start + begin)
                target = targets[name]
                dtype = _SAFETENSORS_DTYPES[info["dtype"]]
                if dtype == target.dtype and target.is_contiguous() and target.device.type == "cpu":
                    view = target.reshape(-1).view(torch.uint8) if target.numel() else None
                    if view is not None and file.readinto(memoryview(view.numpy())) != end - begin:
                        raise EOFError(f"{path} ends inside tensor {name}")
                else:
                    raw = bytearray(file.read(end - begin))
                    if len(raw) != end - begin:
                        raise EOFError(f"{path} ends inside tensor {name}")
                    target.copy_(torch.frombuffer(raw, dtype=dtype).reshape(target.shape))
    return True
