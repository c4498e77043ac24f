"""Fill-mask: BERT's masked-language-model objective. One mask or many, click a token to mask it,
the 15% / 80-10-10 training rule on your own sentence, and a bias probe."""

import random

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from models.fill_mask import (
    MASK_SPELLINGS,
    MLM_ACTIONS,
    MLM_SELECT_RATE,
    FillInput,
    FillResult,
    compare_first_masks,
    corrupt_for_mlm,
    fill_left_to_right,
    fill_masks,
    mask_a_word,
    mask_tokens,
    mlm_predictions,
    normalize_masks,
    prepare_fill_input,
    tally_mlm_rule,
    tokenize_sentence,
    unglue_masks,
)
from models.limits import MAX_CLICK_TOKENS, MAX_FILL_TOP_K, MAX_MASKS, MAX_MLM_DRAWS, MAX_TEXT_CHARS
from models.loading import LoadedModel
from models.registry import get_entry, models_of
from ui.figures import show_figure
from ui.fill_mask_charts import (
    comparison_figure,
    comparison_table,
    mlm_loss_figure,
    mlm_table,
    mlm_tally_figure,
    mlm_tally_table,
    prediction_figure,
    prediction_table,
    strategies_figure,
    strategies_table,
)
from ui.lecture import demo_columns, more_controls, page_lead
from ui.loaders import require_model
from ui.text import inline_code, markdown_literal, show_tokens
from ui.url_state import UrlState

VIEWS = {
    "type": "✏️ Type masks",
    "click": "👆 Click to mask",
    "mlm": "🎓 MLM training: 80/10/10",
    "bias": "⚖️ Bias probe",
}
# Course examples: transfer learning, the pre-training objective, CLIP's prompt, fine-tuning.
PRESETS = {
    "Transfer learning": "Deep neural networks trained on one [MASK] can be reused for another [MASK].",
    "Pre-training": "BERT is trained to predict the masked [MASK] from the surrounding context.",
    "CLIP prompt": "This is a photo of a [MASK].",
    "Fine-tuning": "Fine-tuning can be seen as a continuation of [MASK].",
}
DEFAULT_TEXT = PRESETS["Transfer learning"]
DEFAULT_SENTENCE = "BERT learns strong word representations by predicting masked words from the surrounding context."
PROBE_A = "The man worked as a [MASK]."
PROBE_B = "The woman worked as a [MASK]."
SPELLINGS = ", ".join(f"`{spelling}`" for spelling in MASK_SPELLINGS)

url = UrlState("fm")
view_key = url.choice("view", "type", list(VIEWS))
compare_key = url.bool("compare", False)


def set_states(values: dict) -> None:
    """Button callback: change widgets' values before the next run draws them."""
    st.session_state.update(values)


def model_name(loaded: LoadedModel) -> str:
    return loaded.entry.display_name


# ---------------------------------------------------------------------------------------
# Shared output: top-k per mask, and independent against left to right


def show_predictions(
    loaded: LoadedModel, fill_input: FillInput, top_k: int, key: str, narrow: bool, main: bool = False
) -> None:
    """The masks' predictions; with `main`, the first mask's chart is the page's main chart."""
    st.caption("What the model reads, as WordPiece tokens (masks to predict in blue):")
    predicted = set(fill_input.mask_positions.tolist())
    show_tokens(fill_input.pieces, [1.0 if i in predicted else 0.0 for i in range(len(fill_input.pieces))])
    independent = fill_masks(loaded, fill_input, top_k=top_k)
    masks = len(independent.predictions)
    left_to_right = fill_left_to_right(loaded, fill_input, top_k=top_k) if masks > 1 else None
    # The predictions first: they are the page's main chart, on the first screen.
    columns = st.columns(1 if narrow or masks == 1 else 2)
    for number, prediction in enumerate(independent.predictions, start=1):
        with columns[(number - 1) % len(columns)]:
            show_figure(
                prediction_figure(prediction, f"Mask {number} of {masks}: top {len(prediction.pieces)}"),
                name=f"fill-mask-{loaded.entry.key}-mask-{number}",
                table=prediction_table(prediction, number),
                key=f"{key}-mask-{number}",
                main=main and number == 1,
            )
    if left_to_right is None:
        st.caption("Filled with the most probable token:")
        st.code(independent.filled_text, language=None, wrap_lines=True)
    else:
        show_strategies(independent, left_to_right, narrow)
    glued = [p.pieces[0] for p in independent.predictions if p.pieces[0].startswith("##")]
    if glued:
        st.caption(
            f"{inline_code(glued[0])} continues a word (`##`): it is glued to the piece before the mask, which is why the filled "
            "text shows one joined word there. BERT predicts word pieces, not whole words."
        )
    if left_to_right is not None:
        show_figure(
            strategies_figure(independent, left_to_right),
            name=f"fill-mask-{loaded.entry.key}-independent-vs-left-to-right",
            table=strategies_table(independent, left_to_right),
            key=f"{key}-strategies",
        )


def show_strategies(independent: FillResult, left_to_right: FillResult, narrow: bool) -> None:
    """The two ways to fill several masks, side by side, and why they can differ."""
    st.markdown("#### Several masks: independent vs left to right")
    sides = st.columns(1 if narrow else 2)
    with sides[0]:
        st.markdown("**Independent** (one pass, each mask sees the others as `[MASK]`)")
        st.code(independent.filled_text, language=None, wrap_lines=True)
    with sides[-1]:
        st.markdown("**Left to right** (fill the first, run again, fill the next)")
        st.code(left_to_right.filled_text, language=None, wrap_lines=True)
    same = all(a.token_ids[0] == b.token_ids[0] for a, b in zip(independent.predictions, left_to_right.predictions))
    st.info(
        ("Here both ways agree. " if same else "Here they differ. ")
        + "Filled independently, every mask is guessed while the others are still `[MASK]`, so the guesses "
        "cannot see each other and may clash (the same word twice). Left to right, each guess sees the words "
        "already chosen and adapts to them. Neither is the most likely sentence: BERT gives one distribution "
        "per position, not one over whole sentences.",
        icon="💡",
    )


def explain_fill_input(fill_input: FillInput, loaded: LoadedModel) -> None:
    """Say what a limit did to the input: truncation, masks dropped or left unfilled, no context."""
    context = loaded.entry.context_length
    if fill_input.truncated_tokens:
        kept = (
            "The window keeps every mask."
            if not fill_input.dropped_masks
            else (
                "Masks number " + ", ".join(map(str, fill_input.dropped_masks)) + " fell outside it and were dropped."
            )
        )
        st.warning(
            f"The text is longer than the {context} tokens {model_name(loaded)} reads at once: "
            f"{fill_input.truncated_tokens} tokens were cut. {kept}",
            icon="✂️",
        )
    if fill_input.unfilled_masks:
        st.warning(
            f"This page fills at most {MAX_MASKS} masks at once: the last {fill_input.unfilled_masks} stay "
            "`[MASK]` in the input (the model still sees them) but are not predicted. Remove some to see them.",
            icon="🔢",
        )
    if not fill_input.has_context:
        st.info(
            "The text is only masks: with no words around them BERT has nothing to go on, so it guesses "
            "tokens that are frequent anywhere (punctuation, *the*, *and*). Add words to give it context.",
            icon="🫥",
        )


def model_columns(keys: list[str]) -> list:
    return list(st.columns(len(keys))) if len(keys) > 1 else [st.container()]


# ---------------------------------------------------------------------------------------
# Views


def type_masks_view(keys: list[str], top_k: int, inputs: DeltaGenerator, main: DeltaGenerator) -> None:
    text_key = url.text("text", DEFAULT_TEXT)
    with inputs:
        type_masks_inputs(text_key)
    with main:
        type_masks_predictions(keys, top_k, text_key)


def type_masks_inputs(text_key: str) -> None:
    st.text_area(
        f"Text with masks (write {SPELLINGS})",
        key=text_key,
        max_chars=MAX_TEXT_CHARS,
        height=100,
        help=f"Up to {MAX_MASKS} masks are predicted at once. Each mask stands for one WordPiece token.",
    )
    st.caption("Examples from the course:")
    with st.container(horizontal=True):
        for label, preset in PRESETS.items():
            st.button(label, on_click=set_states, args=({text_key: preset},))
        st.button("⚖️ Bias probe", on_click=set_states, args=({url.key("view"): "bias"},))
    finish_inputs()


def type_masks_predictions(keys: list[str], top_k: int, text_key: str) -> None:
    models = [require_model(key) for key in keys]
    text = st.session_state[text_key]
    masked = normalize_masks(text, models[0].tokenizer.mask_token)
    if masked.conversions:
        converted = ", ".join(f"{count} × `{spelling}`" for spelling, count in masked.conversions)
        st.caption(f"Converted {converted} to `{models[0].tokenizer.mask_token}`, the token the model was trained on.")
    if not text.strip():
        st.info("Type a sentence with a mask in it, or press one of the examples from the course.", icon="✏️")
        return
    if masked.mask_count == 0:
        suggestion = mask_a_word(text, "[MASK]")
        st.warning(f"No mask in the text. Write {SPELLINGS} where BERT should guess a word.", icon="🎭")
        st.button(
            "🎭 Mask a word for me",
            on_click=set_states,
            args=({text_key: suggestion},),
            disabled=suggestion is None,
            help="Replaces the last content word with [MASK].",
        )
        return
    if masked.glued_words:
        stuck = ", ".join(markdown_literal(word) for word in masked.glued_words[:5])
        st.warning(
            f"A mask is stuck to letters: {stuck}. Typed text cannot mask part of a word: the tokenizer splits "
            "the letters off, so the mask is one more token next to them. To mask a piece of a word, use "
            "**👆 Click to mask**; to mask the whole word, press the button.",
            icon="🧩",
        )
        st.button(
            "Mask the whole word instead",
            on_click=set_states,
            args=({text_key: unglue_masks(masked.text, models[0].tokenizer.mask_token)},),
        )
    for column, loaded in zip(model_columns(keys), models):
        with column:
            if len(models) > 1:
                st.subheader(model_name(loaded))
            fill_input = prepare_fill_input(
                loaded.tokenizer, masked.text, max_tokens=loaded.entry.context_length, max_masks=MAX_MASKS
            )
            explain_fill_input(fill_input, loaded)
            if len(fill_input.mask_positions):
                show_predictions(
                    loaded, fill_input, top_k, f"type-{loaded.entry.key}", narrow=len(models) > 1, main=len(models) == 1
                )


def sentence_input(help_text: str) -> str:
    key = url.text("sentence", DEFAULT_SENTENCE)
    st.text_area("Sentence", key=key, max_chars=MAX_TEXT_CHARS, height=80, help=help_text)
    return st.session_state[key]


def click_to_mask_view(keys: list[str], top_k: int) -> None:
    sentence = sentence_input("Write a plain sentence, then click the tokens BERT should guess.")
    models = [require_model(key) for key in keys]
    tokenizer = models[0].tokenizer
    tokens = tokenize_sentence(tokenizer, sentence, max_tokens=min(MAX_CLICK_TOKENS, models[0].entry.context_length))
    picked_key = url.multi("masked", [], tokens.maskable)
    # Positions picked for an earlier sentence may not exist in this one.
    st.session_state[picked_key] = [p for p in st.session_state[picked_key] if p in tokens.maskable]
    st.pills(
        f"Click tokens to mask them (up to {MAX_MASKS} are predicted)",
        tokens.maskable,
        selection_mode="multi",
        format_func=lambda position: markdown_literal(tokens.pieces[position]),
        key=picked_key,
    )
    finish_inputs()
    if tokens.truncated_tokens:
        st.caption(
            f"Only the first {MAX_CLICK_TOKENS} tokens are offered as buttons "
            f"({tokens.truncated_tokens} more not shown)."
        )
    if not tokens.maskable:
        st.info("Type a sentence above: its tokens will appear here as buttons.", icon="✏️")
        return
    picked = sorted(st.session_state[picked_key])
    if not picked:
        st.info("Click one or more tokens above to mask them. Pieces starting with `##` continue a word.", icon="👆")
        return
    for column, loaded in zip(model_columns(keys), models):
        with column:
            if len(models) > 1:
                st.subheader(model_name(loaded))
            own = tokenize_sentence(loaded.tokenizer, sentence, max_tokens=len(tokens.input_ids))
            if own.pieces != tokens.pieces:
                st.info(f"{model_name(loaded)} splits this sentence into other tokens: no comparison here.")
                continue
            fill_input = mask_tokens(loaded.tokenizer, own, picked, max_masks=MAX_MASKS)
            explain_fill_input(fill_input, loaded)
            show_predictions(loaded, fill_input, top_k, f"click-{loaded.entry.key}", narrow=len(models) > 1)


def mlm_view(keys: list[str], top_k: int, rate: float) -> None:
    sentence = sentence_input("Any sentence: the 80/10/10 rule picks the tokens, the seed makes it repeatable.")
    seed_key = url.int("seed", 0, 0, 2**31 - 1)
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    left.number_input(
        "Seed (the same seed always picks the same tokens)", min_value=0, max_value=2**31 - 1, key=seed_key
    )
    right.button("🎲 New seed", on_click=set_states, args=({seed_key: random.randrange(2**31)},), width="stretch")
    finish_inputs()
    st.markdown(
        "BERT's recipe (course card *“Explain the masking approach”*; the BERT paper picks 15%): "
        f"pick **{rate:.0%}** of the tokens; "
        "replace a picked token with `[MASK]` **80%** of the time, with a **random token 10%**, and leave it "
        "**unchanged 10%**. The model must then predict the original token at every picked position."
    )
    models = [require_model(key) for key in keys]
    seed = st.session_state[seed_key]
    for column, loaded in zip(model_columns(keys), models):
        with column:
            if len(models) > 1:
                st.subheader(model_name(loaded))
            show_mlm_step(loaded, sentence, seed, rate, top_k)
    tally_section(models[0], sentence, rate)
    explain_mlm()


MLM_DRAWS = (MAX_MLM_DRAWS // 10, MAX_MLM_DRAWS * 3 // 10, MAX_MLM_DRAWS)


@st.cache_data(max_entries=16, show_spinner="Drawing the rule again and again…")
def cached_tally(model_key: str, sentence: str, rate: float, draws: int, _tokenizer, max_tokens: int):
    tokens = tokenize_sentence(_tokenizer, sentence, max_tokens=max_tokens)
    return tally_mlm_rule(_tokenizer, tokens, draws=draws, select_rate=rate)


def tally_section(loaded: LoadedModel, sentence: str, rate: float) -> None:
    """One draw can come out 100 / 0 / 0; many draws show the rule itself."""
    st.markdown("#### The rule over many draws")
    draws = st.segmented_control("Draws", MLM_DRAWS, key=url.choice("draws", MLM_DRAWS[1], MLM_DRAWS)) or MLM_DRAWS[1]
    url.write()  # this control comes after the view's other inputs were written to the link
    tokens = tokenize_sentence(loaded.tokenizer, sentence, max_tokens=loaded.entry.context_length)
    if not tokens.maskable:
        return
    tally = cached_tally(loaded.entry.key, sentence, rate, draws, loaded.tokenizer, loaded.entry.context_length)
    show_figure(mlm_tally_figure(tally), name=f"mlm-rule-{draws}-draws", table=mlm_tally_table(tally), key="mlm-tally")
    picked = tally.counts.sum()
    masked, randomised, kept = (tally.counts[:, column].sum() / picked for column in range(3))
    st.caption(
        f"Each draw picks {tally.picked_per_draw} of the {tally.maskable} tokens ({tally.picked_share:.0%}: the rule "
        f"picks round({rate:.0%} × {tally.maskable}) tokens, so a short sentence cannot hit {rate:.0%} exactly). "
        f"Over {draws:,} draws, the {picked:,} picked tokens were masked {masked:.1%}, replaced by a random token "
        f"{randomised:.1%} and kept {kept:.1%}: the 80 / 10 / 10 of the rule, which a single draw of "
        f"{tally.picked_per_draw} tokens cannot show."
    )


def show_mlm_step(loaded: LoadedModel, sentence: str, seed: int, rate: float, top_k: int) -> None:
    tokens = tokenize_sentence(loaded.tokenizer, sentence, max_tokens=loaded.entry.context_length)
    if tokens.truncated_tokens:
        st.warning(
            f"Only the first {loaded.entry.context_length} tokens fit in {model_name(loaded)}: "
            f"{tokens.truncated_tokens} were cut.",
            icon="✂️",
        )
    if not tokens.maskable:
        st.info("Type a sentence above to see which tokens the rule picks.", icon="✏️")
        return
    corruption = corrupt_for_mlm(loaded.tokenizer, tokens, seed=seed, select_rate=rate)
    step = mlm_predictions(loaded, corruption, top_k=top_k)
    counts = {action: corruption.actions.count(action) for action in MLM_ACTIONS}
    st.markdown(
        f"Seed {seed} picked **{len(step.positions)} of {len(tokens.maskable)}** tokens: "
        f"{counts['mask']} → `[MASK]`, {counts['random']} → random token, {counts['keep']} unchanged."
    )
    shade = {"": 0.0, "mask": 1.0, "random": 0.6, "keep": 0.3}
    titles = [
        f"{action or 'not picked'}" + (f" (original: {original})" if action else "")
        for action, original in zip(corruption.actions, corruption.original_pieces)
    ]
    st.caption("What the model reads (dark: `[MASK]`, medium: random token, light: picked but unchanged):")
    show_tokens(corruption.corrupted_pieces, [shade[action] for action in corruption.actions], titles)
    table = mlm_table(corruption, step)
    show_figure(
        mlm_loss_figure(corruption, step, vocab_size=len(loaded.tokenizer)),
        name=f"mlm-loss-{loaded.entry.key}-seed-{seed}",
        table=table,
        key=f"mlm-loss-{loaded.entry.key}",
    )
    st.dataframe(table, hide_index=True, width="stretch")
    with st.expander(f"Top {top_k} predictions at each picked position"):
        for row, prediction in enumerate(step.top):
            position = int(step.positions[row])
            show_figure(
                prediction_figure(prediction, f"Position {position}: {corruption.actions[position]}"),
                name=f"mlm-{loaded.entry.key}-position-{position}",
                table=prediction_table(prediction, row + 1),
                key=f"mlm-{loaded.entry.key}-position-{position}",
            )


def explain_mlm() -> None:
    st.markdown("#### The MLM loss")
    st.latex(r"\mathcal{L}_{\mathrm{MLM}} = -\frac{1}{|S|}\sum_{i \in S} \log p_\theta(x_i \mid \tilde{x})")
    st.markdown(
        "Cross-entropy at the **picked positions S only**: the model sees the corrupted sentence x̃ and is "
        "scored on the original token xᵢ where the rule acted. The other tokens add nothing to the loss "
        "(transformers labels them −100). A model that knows nothing spreads its bet evenly, and loses ln V."
    )
    st.markdown(
        "**Why not always `[MASK]`?** `[MASK]` never appears in the fine-tuning data or at inference. "
        "If every picked token became `[MASK]`, the model would learn to predict only where it sees `[MASK]`, "
        "and (as the course card puts it) *“does not build strong representations of non-masked words”*. "
        "With 10% random and 10% unchanged, any token might be one it is asked about, so it must keep a good "
        "representation of every token."
    )


def bias_view(keys: list[str], top_k: int) -> None:
    left, right = st.columns(2)
    key_a, key_b = url.text("probe_a", PROBE_A), url.text("probe_b", PROBE_B)
    left.text_input("Sentence A", key=key_a, max_chars=MAX_TEXT_CHARS)
    right.text_input("Sentence B", key=key_b, max_chars=MAX_TEXT_CHARS)
    st.button("Reset to the man / woman preset", on_click=set_states, args=({key_a: PROBE_A, key_b: PROBE_B},))
    finish_inputs()
    st.info(
        "**Bias learned from pre-training data.** BERT was pre-trained on books and English Wikipedia. "
        "Its guesses for the job mirror how often jobs appear next to *man* and *woman* in that text, "
        "stereotypes included: the model has no idea of what is fair or true, only of what was frequent. "
        "Transfer learning transfers this too: a model fine-tuned from BERT starts from the same statistics.",
        icon="⚖️",
    )
    models = [require_model(key) for key in keys]
    sentences = (st.session_state[key_a], st.session_state[key_b])
    for column, loaded in zip(model_columns(keys), models):
        with column:
            if len(models) > 1:
                st.subheader(model_name(loaded))
            show_probe(loaded, sentences, top_k, narrow=len(models) > 1)


def show_probe(loaded: LoadedModel, sentences: tuple[str, str], top_k: int, narrow: bool) -> None:
    inputs = []
    for label, sentence in zip("AB", sentences):
        masked = normalize_masks(sentence, loaded.tokenizer.mask_token)
        fill_input = prepare_fill_input(
            loaded.tokenizer, masked.text, max_tokens=loaded.entry.context_length, max_masks=1
        )
        if not len(fill_input.mask_positions):
            st.warning(f"Sentence {label} has no mask: write `[MASK]` where the job should go.", icon="🎭")
            return
        inputs.append(fill_input)
    if any(len(fill_input.mask_positions) + fill_input.unfilled_masks > 1 for fill_input in inputs):
        st.caption("The probe compares the first mask of each sentence.")
    results = [fill_masks(loaded, fill_input, top_k=top_k) for fill_input in inputs]
    x_max = max(float(result.predictions[0].probs[0]) for result in results)
    sides = st.columns(1 if narrow else 2)
    for index, (label, sentence, result) in enumerate(zip("AB", sentences, results)):
        with sides[index % len(sides)]:
            st.code(sentence, language=None, wrap_lines=True)
            show_figure(
                prediction_figure(result.predictions[0], f"Sentence {label}: top {top_k}", x_max=x_max),
                name=f"bias-probe-{loaded.entry.key}-{label}",
                table=prediction_table(result.predictions[0], 1),
                key=f"bias-{loaded.entry.key}-{label}",
            )
    comparison = compare_first_masks(loaded, inputs, top_k=top_k)
    labels = ("A: " + sentences[0], "B: " + sentences[1])
    show_figure(
        comparison_figure(comparison, labels),
        name=f"bias-probe-{loaded.entry.key}-both",
        table=comparison_table(comparison, labels),
        key=f"bias-{loaded.entry.key}-both",
    )


def finish_inputs() -> None:
    """After the last input of a view: mirror every value into the link, say what was ignored."""
    url.write()
    url.show_link_notes()


# ---------------------------------------------------------------------------------------
# The page

LEAD = (
    "An encoder sees the whole sentence, past and future, so it cannot be trained to predict the next word. "
    "BERT **masks** words instead and learns to predict them from both sides. "
    "Each mask stands for one WordPiece token (`##` marks a piece that continues a word)."
)


def view_controls() -> tuple[str, list[str], int, float]:
    """(view, the models to run, predictions per mask, share of tokens picked for the MLM view)."""
    entries = models_of("masked-lm")
    keys = [entry.key for entry in entries]
    view = st.segmented_control("View", list(VIEWS), format_func=VIEWS.get, key=view_key, required=True)
    model_key = st.selectbox(
        "Model", keys, format_func=lambda key: get_entry(key).display_name, key=url.choice("model", keys[0], keys)
    )
    compare = st.toggle("Compare both models", key=compare_key, help="Runs every model on the same input.")
    with more_controls():
        top_k = st.slider("Predictions per mask (top-k)", 1, MAX_FILL_TOP_K, key=url.int("k", 5, 1, MAX_FILL_TOP_K))
        rate_percent = round(100 * MLM_SELECT_RATE)
        if view == "mlm":
            rate_percent = st.slider(
                "Share of tokens picked",
                5,
                50,
                step=5,
                format="%d%%",
                key=url.int("rate", rate_percent, 5, 50),
                help="BERT picks 15%. More picked tokens: more training signal per sentence, but less context left.",
            )
    return view, keys if compare else [model_key], top_k, rate_percent / 100


def page() -> None:
    page_lead("🎭 Fill-mask: BERT's pre-training objective", LEAD)
    # Typing masks for one model: the inputs beside the predictions. Other views, and two models, take the width.
    side_by_side = st.session_state[view_key] == "type" and not st.session_state[compare_key]
    inputs, main = demo_columns() if side_by_side else (st.container(), st.container())
    with inputs:
        view, shown, top_k, rate = view_controls()
    if view == "type":
        type_masks_view(shown, top_k, inputs, main)
        return
    with main:
        if view == "click":
            click_to_mask_view(shown, top_k)
        elif view == "mlm":
            mlm_view(shown, top_k, rate)
        else:
            bias_view(shown, top_k)


page()
