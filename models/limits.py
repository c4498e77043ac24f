"""Every limit the app applies to user input, named once.

Pages show these numbers to the user when they apply them, so a limit is never a
bare number in two places.
"""

# Text typed into any text box is cut here before tokenising, so a pasted novel can
# never make the tokenizer itself the slow part.
MAX_TEXT_CHARS = 20_000

# Attention: beyond this many tokens the 144-head model view stops being readable
# and the page truncates (and says by how many tokens).
MAX_ATTENTION_TOKENS = 256

# Generation
MAX_NEW_TOKENS = 200
MIN_NEW_TOKENS = 1
MAX_FEW_SHOT_EXAMPLES = 16

# Fill-mask
MAX_MASKS = 8

# CLIP
MAX_LABELS = 20
MAX_TEMPLATES = 20
MAX_UPLOAD_MB = 10  # also set as server.maxUploadSize in .streamlit/config.toml
MAX_IMAGE_PIXELS = 40_000_000  # about 6300 × 6300: larger is refused as a decompression bomb
MAX_IMAGES_IN_MATRIX = 8

# Hub: how long the app waits for the Hugging Face Hub before saying it is unreachable.
HUB_PROBE_TIMEOUT_S = 2.0
