"""Every limit the app applies to user input, named once.

Pages show these numbers to the user when they apply them, so a limit is never a
bare number in two places.
"""

# Text typed into any text box is cut here before tokenising, so a pasted novel can
# never make the tokenizer itself the slow part.
MAX_TEXT_CHARS = 20_000
# Every seed box on every page: numpy's and torch's generators both take it.
MAX_SEED = 2**31 - 1
# Generation's smaller boxes: one few-shot example's input or output, the query; the expected answer; the separator.
MAX_PROMPT_CHARS = 500
MAX_ANSWER_CHARS = 200
MAX_SEPARATOR_CHARS = 10
# CLIP's label and caption boxes (up to MAX_LABELS lines of at most CLIP's 77 tokens) and its template box.
MAX_LABEL_LIST_CHARS = 4_000
MAX_TEMPLATE_CHARS = 300
# A page's link (its query string, percent-encoded) stays under this: past about 128 KB the server answers
# 400, and proxies and chat apps cut links far shorter. Longer values are left out of the link (the page says so).
MAX_LINK_CHARS = 8_000

# Attention: beyond this many tokens the 144-head model view stops being readable
# and the page truncates (and says by how many tokens).
MAX_ATTENTION_TOKENS = 256
# The head view draws at most this many lines (the strongest): 12 heads on 256 tokens could ask for
# 150,000, megabytes of figure for a picture no one can read.
MAX_HEAD_VIEW_LINKS = 3_000
MIN_HEAD_VIEW_WEIGHT = 0.02  # thinner lines are left out: they would only grey the picture

# Generation
MAX_NEW_TOKENS = 200
MIN_NEW_TOKENS = 1
MAX_FEW_SHOT_EXAMPLES = 16

# Fill-mask
MAX_MASKS = 8
MAX_MLM_DRAWS = 1_000  # the 80/10/10 tally: draws of the rule per request (about 0.2 s on 2 CPUs)

# CLIP
MAX_LABELS = 20
MAX_TEMPLATES = 20
MAX_UPLOAD_MB = 10  # also set as server.maxUploadSize in .streamlit/config.toml
MAX_IMAGE_PIXELS = 40_000_000  # about 6300 × 6300: larger is refused as a decompression bomb
# What one image may take in memory once decoded, before it is shrunk (every conversion after that runs on
# tiles of it). A JPEG is decoded at a reduced scale, so only PNG, WebP and GIF come near it: about
# 20 megapixels in colour, all 40 in 16-bit greyscale.
MAX_DECODED_IMAGE_MB = 80
MAX_IMAGES_IN_MATRIX = 8

# Hub: how long the app waits for the Hugging Face Hub before saying it is unreachable.
HUB_PROBE_TIMEOUT_S = 2.0

# CLIP images: after loading, pictures are shrunk to this longest side (CLIP sees 224 × 224;
# 1024 keeps them sharp on a projector while bounding the memory each session holds).
MAX_IMAGE_SIDE = 1024
# CLIP linear probe: at most this many labelled uploads (features are extracted once, on the CPU).
MAX_PROBE_UPLOADS = 200
# The probe keeps only a small copy of each upload: CLIP sees 224 × 224, so 320 px on the longest side
# loses little (about 0.3 MB each).
PROBE_IMAGE_SIDE = 320
# All of one session's decoded uploads together (each decoded once, its small copy kept).
MAX_SESSION_IMAGES_MB = 64

# Generation decoding controls (MAX_NEW_TOKENS and MAX_FEW_SHOT_EXAMPLES are above).
MAX_TEMPERATURE = 2.0
MAX_TOP_K = 500  # top-k filter; 0 switches it off
MAX_REPETITION_PENALTY = 3.0
# Generation: alternatives recorded per generated token (and bars in the next-token chart).
TOP_ALTERNATIVES = 10
# Few-shot experiment: k runs 0..this (its items go to the engine a few at a time: ENGINE_SESSION_SEQUENCES).
MAX_EXPERIMENT_SHOTS = 8

# Attention page, induction heads: GPT-2 reads this many random tokens, then the same tokens again.
# The cached result keeps every weight, 12 × 12 × (2p + 1)² floats: 23 MB at the maximum.
MIN_INDUCTION_PERIOD = 5
MAX_INDUCTION_PERIOD = 100

# Fill-mask page: predictions shown per mask, and how many tokens click-to-mask offers as
# buttons (a longer sentence is cut, with a notice; typed masks still reach the full context).
MAX_FILL_TOP_K = 20
MAX_CLICK_TOKENS = 128

# Server memory: before loading a model, the least recently used ones are let go when the server's
# resident memory plus the new model would pass this budget (MB; LECTURE_LAB_MEMORY_BUDGET_MB overrides).
# 2200 MB leaves room under Streamlit Community Cloud's ~2.7 GB for the Python heap and page reruns.
MEMORY_BUDGET_MB = 2200

# Inference engines (models/engine.py, models/continuous_batching.py): what a whole class may ask at once.
# Generations decoding together in one step: throughput on 2 CPUs still grows from 32 to 64 rows.
ENGINE_MAX_SEQUENCES = 64
# Requests of one session admitted at once (the k-shot experiment sends 180 scoring requests):
# the rest wait their turn between other students' requests.
ENGINE_SESSION_SEQUENCES = 8
# Prompt tokens read per step besides the decoding rows, shared out between sessions; a longer prompt
# is read in chunks over several steps, so one long prompt never stalls everybody's next token.
ENGINE_STEP_TOKENS = 256
# Keys and values of the running generations (per causal LM), and the shared-prompt-start cache
# inside that. GPT-2 holds 74 KB per token in fp32: 256 MB is about 3,500 tokens, some 60 students'
# few-shot answers at once. The server's memory budget reserves it when GPT-2 loads, and BERT, GPT-2
# and this still fit together under MEMORY_BUDGET_MB (the attention page's comparison needs both).
ENGINE_KV_BUDGET_MB = 256
ENGINE_PREFIX_CACHE_MB = 64
# Batch lanes (BERT, CLIP, attention maps): tokens in one padded forward pass, so one batch stays
# around a second on 2 CPUs; a single longer request runs alone.
ENGINE_BATCH_TOKENS = 1024
# Attention maps return every weight (layers × heads × n² floats per text), so their batches are smaller.
ENGINE_ATTENTION_BATCH_TOKENS = 512
# A prompt start shorter than this is not worth caching.
MIN_SHARED_PREFIX_TOKENS = 16
# A generation whose reader has not asked for its tokens for this long (a closed tab whose page thread
# is gone) is cancelled and its place freed.
ENGINE_ABANDON_S = 20.0

# The fine-tuning lab (models/finetune.py): what one run may cost. Runs go one at a time on the server
# (models/training_runs.py), so one student's run delays everyone's: MAX_FINETUNE_STEPS bounds it. A full
# fine-tuning step of 16 reviews is about 0.23 s of both CPUs, so the largest run allowed is about two minutes
# (the default run takes 10 steps per strategy, 13 s in all).
MAX_FINETUNE_PER_CLASS = 64  # the task's training pool holds 64 per class
MAX_FINETUNE_EPOCHS = 30
MAX_FINETUNE_STEPS = 120  # optimiser steps per strategy: epochs × batches of the (augmented) examples
MIN_FINETUNE_LR = 1e-6
MAX_FINETUNE_LR = 10.0  # high enough to show a run diverging, which is a lesson too
