"""Generation: GPT-2 with zero-, one- and few-shot prompts, token by token.

Build a prompt (task description + k examples + query), see the next-token distribution, generate
with streaming and a Stop button, inspect each token's probability and alternatives, compare k = 0, 1
and few side by side, and run the k = 0..8 in-context learning experiment on a labelled set.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from models.generation import (
    AnswerScores,
    DecodingSettings,
    Example,
    GenerationResult,
    NextTokenDistribution,
    PreparedPrompt,
    ShotCurve,
    answer_continuation,
    build_prompt,
    collect_generation,
    examples_from_json,
    examples_to_json,
    load_labelled_sets,
    load_presets,
    full_next_token_distribution,
    next_token_distribution,
    sampling_filter,
    top_tokens,
    prepare_prompt,
    prompt_room,
    score_answers,
    score_shots,
    settings_notes,
    stream_generation,
)
from models.limits import (
    MAX_ANSWER_CHARS,
    MAX_EXPERIMENT_SHOTS,
    MAX_FEW_SHOT_EXAMPLES,
    MAX_NEW_TOKENS,
    MAX_PROMPT_CHARS,
    MAX_REPETITION_PENALTY,
    MAX_SEED,
    MAX_SEPARATOR_CHARS,
    MAX_TEMPERATURE,
    MAX_TEXT_CHARS,
    MAX_TOP_K,
    MIN_NEW_TOKENS,
)
from models.registry import default_model, get_entry, models_of
from models.remote_generation import GenerationServerError
from ui.figures import figure_once, show_figure
from ui.generation_charts import (
    alternatives_figure,
    alternatives_table,
    chip_titles,
    FILTER_BARS,
    next_token_figure,
    next_token_table,
    sampling_filter_figure,
    sampling_filter_table,
    shot_curve_figure,
    shot_curve_table,
    token_probability_figure,
    token_probability_table,
)
from ui.lecture import demo_columns, lecture_mode, page_lead
from ui.engine_wait import HIDE_STREAMLIT_STOP, model_requests, still_connected
from ui.generation_server import generator_for, report_server_failure
from ui.text import markdown_text, show_tokens, visible_token
from ui.share import run_from_link
from ui.url_state import UrlState

PRESETS = {preset.key: preset for preset in load_presets()}
LABELLED = {labelled.key: labelled for labelled in load_labelled_sets()}
SHOTS = {"zero": "zero-shot (k = 0)", "one": "one-shot (k = 1)", "few": "few-shot (k examples)"}
DECODING = {"greedy": "Greedy (most likely token)", "sample": "Sampling"}
STOP_WORDS = {
    "eos": "the end-of-text token",
    "newline": "a newline (the answer line is complete)",
    "max_new_tokens": "the max new tokens",
    "stopped": "Stop (or a change on the page)",
}
RESULT_KEY = "gen__result"
COMPARISON_KEY = "gen__comparison"
EXPERIMENT_KEY = "gen__experiment"
EDITOR_VERSION_KEY = "gen__editor_version"
PROMPT_VIEW_HEIGHT = 360  # pixels; a longer prompt scrolls inside its box
PRESENTER_CHART_ROOM = 420  # px below the tabs and Generate, on a 1280 × 720 projector
LEAD = (
    "GPT-2 continues text one token at a time. Put a **task description** and **k examples** before a query and the "
    "model often picks up the task from the prompt alone: *in-context learning, where no gradient updates are "
    "performed*."
)

url = UrlState("gen")


def preset_values(preset) -> dict:
    """The page inputs a preset sets."""
    return {
        "task": preset.task,
        "examples": examples_to_json(preset.examples),
        "query": preset.query,
        "answer": preset.answer,
        "sep": preset.separator,
        "shots": "few" if preset.examples else "zero",
        "k": min(max(2, preset.few_k), MAX_FEW_SHOT_EXAMPLES),
        "max_new": preset.max_new_tokens,
        "stop_nl": preset.stop_at_newline,
    }


def apply_preset() -> None:
    for name, value in preset_values(PRESETS[st.session_state[url.key("preset")]]).items():
        st.session_state[url.key(name)] = value
    # A new editor key starts the examples table afresh from the preset.
    version = st.session_state.get(EDITOR_VERSION_KEY, 0)
    st.session_state.pop(f"gen__examples_base_{version}", None)
    st.session_state[EDITOR_VERSION_KEY] = version + 1


def url_examples(default: str) -> tuple[Example, ...]:
    """The examples kept in the URL; a malformed value is reported and replaced by the preset's."""
    key = url.key("examples")
    url.text("examples", default=default)
    try:
        return examples_from_json(st.session_state[key])
    except ValueError:
        url.ignored.append("`examples` (not a list of [input, output] pairs)")
        st.session_state[key] = default
        return examples_from_json(default)


def cell_text(value) -> str:
    return "" if value is None or pd.isna(value) else str(value).strip()


def examples_table(examples: tuple[Example, ...]) -> tuple[list[Example], int]:
    """The editable examples table; returns the complete rows and how many incomplete rows were left out."""
    version = st.session_state.setdefault(EDITOR_VERSION_KEY, 0)
    base_key = f"gen__examples_base_{version}"
    # The table's starting data must not change while its edits live in the widget state.
    base = st.session_state.setdefault(
        base_key, pd.DataFrame([(e.input, e.output) for e in examples], columns=["input", "output"], dtype=str)
    )
    edited = st.data_editor(
        base,
        key=f"gen__examples_editor_{version}",
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        column_config={
            "input": st.column_config.TextColumn("Input", max_chars=MAX_PROMPT_CHARS),
            "output": st.column_config.TextColumn("Output", max_chars=MAX_PROMPT_CHARS),
        },
    )
    rows = [(cell_text(source), cell_text(target)) for source, target in zip(edited["input"], edited["output"])]
    complete = [Example(source, target) for source, target in rows if source and target]
    incomplete = sum(1 for source, target in rows if (source or target) and not (source and target))
    return complete, incomplete


@st.cache_data(show_spinner="Asking the model for its next-token distribution…", max_entries=32)
def cached_full_distribution(_loaded, identity: str, ids: tuple[int, ...], _prompt: PreparedPrompt):
    return full_next_token_distribution(_loaded, _prompt)


@st.cache_data(show_spinner="Asking the generation server for the next token…", max_entries=32)
def cached_next_tokens(_generator, identity: str, ids: tuple[int, ...], _prompt: PreparedPrompt):
    return next_token_distribution(_generator, _prompt)


def show_sampling_filter(generator, prompt: PreparedPrompt, settings: DecodingSettings) -> None:
    """The next token under these settings: redrawn on every slider move, the model read once per prompt."""
    if not generator.has_whole_distribution:
        st.info(
            f"This view filters the whole next-token distribution (all {len(generator.tokenizer):,} tokens); "
            f"{generator.where} sends only the most likely ones, so it is shown when generation runs in this app.",
            icon="🔍",
        )
        return
    loaded = generator.loaded
    ids, probs = cached_full_distribution(loaded, loaded.identity, tuple(prompt.ids.tolist()), prompt)
    filtered = sampling_filter(ids, probs, settings)
    pieces = loaded.tokenizer.batch_decode(filtered.ids[:FILTER_BARS, None].tolist())
    show_figure(
        sampling_filter_figure(filtered, pieces),
        name="sampling_filter",
        table=sampling_filter_table(filtered, pieces),
        key="sampling_filter",
    )
    st.caption(
        "Temperature divides the logits before the softmax (below 1 sharpens, above 1 flattens); top-k keeps the k "
        "most likely tokens; top-p the fewest whose probabilities reach p. Sampling then draws from the filled bars, "
        "renormalised. The repetition penalty, which depends on the text so far, acts during generation."
    )


def next_tokens(generator, prompt: PreparedPrompt) -> NextTokenDistribution:
    """The next-token chart's top tokens, from the same model reading as the sampling view (one per prompt)."""
    ids = tuple(prompt.ids.tolist())
    if not generator.has_whole_distribution:
        return cached_next_tokens(generator, generator.identity, ids, prompt)
    ids, probs = cached_full_distribution(generator.loaded, generator.identity, ids, prompt)
    return top_tokens(generator.tokenizer, ids, probs)


@st.cache_data(show_spinner="Scoring the items…", max_entries=64)
def cached_shot_scores(_generator, identity: str, set_key: str, k: int) -> AnswerScores:
    return score_shots(_generator, LABELLED[set_key], k)


def describe_truncation(prompt: PreparedPrompt, max_new: int, context: int) -> str | None:
    notes = []
    if prompt.dropped_chars:
        notes.append(
            f"the text was longer than {MAX_TEXT_CHARS:,} characters, so its first {prompt.dropped_chars:,} were cut"
        )
    if prompt.dropped_tokens:
        notes.append(
            f"{prompt.total_tokens:,} tokens do not fit next to {max_new} new tokens in the {context:,}-token context, "
            f"so the first {prompt.dropped_tokens:,} tokens were dropped and the last "
            f"{prompt_room(context, max_new):,} kept"
        )
    return ("The prompt was left-truncated: " + "; ".join(notes) + ".") if notes else None


def stream_into(
    generator, prompt: PreparedPrompt, settings: DecodingSettings, fingerprint, stop_slot, live_slot
) -> None:
    """Generate, showing each token as it comes; Stop (or any change) reruns the page and keeps what came so far.

    While the class keeps the model busy, `live_slot` says where the request stands; a closed tab ends
    the generation at its next token, so its place goes to the next student.
    """
    live = {"fingerprint": fingerprint, "prompt": prompt, "steps": []}
    st.session_state[RESULT_KEY] = live
    with stop_slot.container():
        st.button("Stop", icon="⏹️", key="gen__stop", help="Stop generating; the tokens so far are kept.")
        # One Stop while tokens stream: Streamlit's own (top right) would end the run without the tokens' summary.
        st.markdown(HIDE_STREAMLIT_STOP, unsafe_allow_html=True)
    stream = stream_generation(generator, prompt, settings)
    if not generator.runs_here:
        live_slot.caption(f"Waiting for {generator.where}…")  # a busy server may queue the request a while
    try:
        with model_requests(live_slot):
            for step in stream:
                if not still_connected():
                    break
                live["steps"].append(step)
                steps = live["steps"]
                with live_slot.container():
                    show_tokens([s.piece for s in steps], [s.probability for s in steps])
                    st.caption(f"{len(steps)} / {settings.max_new_tokens} tokens · {step.elapsed_s:.1f} s")
    except GenerationServerError as error:
        # The tokens so far are kept; the page is drawn again with this app's engine, which the next Generate uses
        # until the server answers again.
        report_server_failure(str(error))
        live["server_error"] = str(error)
    finally:
        stream.close()
    stop_slot.empty()
    live_slot.empty()
    if "server_error" in live:
        st.rerun()


def show_result(result: GenerationResult, expected: str, fingerprint, cut_short: bool = False) -> None:
    steps = result.steps
    if not steps:
        st.info("Stopped before the first token.")
        return
    st.caption(
        "Generated tokens, shaded by the model's probability of each (darker = more sure). Hover for alternatives."
    )
    show_tokens([step.piece for step in steps], [step.probability for step in steps], chip_titles(steps))
    speed = f" · {result.decode_tokens_per_s:.1f} tokens/s after the first" if result.decode_tokens_per_s else ""
    st.caption(
        f"{len(steps)} tokens · stopped at {'the lost connection' if cut_short else STOP_WORDS[result.stop_reason]} · "
        f"first token after {result.first_token_s:.2f} s{speed}"
    )
    if expected.strip():
        verdict = "✓ matches" if result.answer.lower() == expected.strip().lower() else "✗ differs from"
        st.text(f"Answer (first line): {result.answer!r} {verdict} the expected {expected.strip()!r}")
    with st.expander("Prompt + generated text, as plain text"):
        st.code(result.prompt.text + result.text, language=None, wrap_lines=True)
    per_token_view(fingerprint)


@st.fragment
def per_token_view(fingerprint) -> None:
    """The step picker and its charts: picking a step reruns this part only, not the page.

    Reads the result from the session (a fragment's arguments stay with the session, so they are kept small).
    """
    result = current_result(fingerprint)
    if result is None:
        return
    steps = result.steps
    st.subheader("Per-token view")
    last = len(steps) - 1
    step_key = url.int("step", default=0, lo=0, hi=MAX_NEW_TOKENS - 1)
    if st.session_state[step_key] > last:
        st.session_state[step_key] = last
    index = st.selectbox(
        "Step",
        options=list(range(len(steps))),
        format_func=lambda i: f"{i + 1} · {visible_token(steps[i].piece)} ({steps[i].probability:.0%})",
        key=step_key,
        help="The top alternatives the model weighed at this step.",
    )
    left, right = st.columns(2)
    with left:
        show_figure(
            figure_once((fingerprint, "alternatives", index), lambda: alternatives_figure(steps[index])),
            name="alternatives_at_step",
            table=alternatives_table(steps[index]),
        )
    with right:
        show_figure(
            figure_once((fingerprint, "token probabilities", len(steps)), lambda: token_probability_figure(result)),
            name="token_probabilities",
            table=token_probability_table(result),
        )
    url.write()


def current_result(fingerprint) -> GenerationResult | None:
    """The session's generation for `fingerprint`, collected once when its stream ended."""
    state = st.session_state.get(RESULT_KEY)
    if not state or state["fingerprint"] != fingerprint:
        return None
    return state.get("result")


def generate_tab(generator, prompt, settings, expected) -> None:
    # The model, not where it runs: the tokens a server sent before it went away stay on the page after the switch.
    fingerprint = (generator.entry.key, tuple(prompt.ids.tolist()), settings)
    buttons = st.container(horizontal=True)
    clicked = buttons.button("Generate", type="primary", icon="▶️", key="gen__generate")
    clicked = run_from_link("generate", "Generate") or clicked
    # The outcome's place is cleared before tokens stream, so the last run's words do not linger below them.
    stop_slot, live_slot, outcome = buttons.empty(), st.empty(), st.empty()
    if clicked:
        stream_into(generator, prompt, settings, fingerprint, stop_slot, live_slot)
    state = st.session_state.get(RESULT_KEY)
    with outcome.container():
        if state and state["fingerprint"] == fingerprint:
            if "result" not in state or len(state["result"].steps) != len(state["steps"]):
                state["result"] = collect_generation(generator.tokenizer, state["prompt"], state["steps"])
            if state.get("server_error"):
                st.error(
                    f"**The generation stopped:** {markdown_text(state['server_error'])}. The tokens so far are "
                    "below; press "
                    "Generate again to generate in this app.",
                    icon="🔌",
                )
            show_result(state["result"], expected, fingerprint, cut_short=bool(state.get("server_error")))
        elif state:
            st.caption("The prompt or settings changed since the last generation: press Generate.")
        elif not lecture_mode():
            st.caption("Press Generate to continue the prompt token by token.")


def shots_tab(generator, task, examples, query, separator, few_k, settings, expected) -> None:
    if not query.strip():
        st.info('This needs a query: the line the model completes after the examples (e.g. "cheese").')
        return
    ks = sorted({0, min(1, len(examples)), min(few_k, len(examples))})
    st.caption(
        f"The same query with k = {', '.join(map(str, ks))} examples, decoded with the settings above. "
        "Only the prompt changes: no gradient updates are performed."
    )
    context = generator.context_length
    prompts = [
        prepare_prompt(
            generator.tokenizer,
            build_prompt(task, examples, query, k, separator),
            max_new_tokens=settings.max_new_tokens,
            context_length=context,
        )
        for k in ks
    ]
    fingerprint = (generator.identity, tuple(tuple(p.ids.tolist()) for p in prompts), settings, expected)
    if st.button("Compare side by side", icon="⚖️", key="gen__compare"):
        with st.spinner("Generating for each k…"):
            results = [
                collect_generation(generator.tokenizer, p, list(stream_generation(generator, p, settings)))
                for p in prompts
            ]
            scores = (
                score_answers(
                    generator, [p.text for p in prompts], [answer_continuation(expected, separator)] * len(prompts)
                )
                if expected.strip()
                else None
            )
        st.session_state[COMPARISON_KEY] = {"fingerprint": fingerprint, "results": results, "scores": scores}
    state = st.session_state.get(COMPARISON_KEY)
    if not state or state["fingerprint"] != fingerprint:
        return
    for column, k, result, index in zip(st.columns(len(ks)), ks, state["results"], range(len(ks))):
        with column, st.container(border=True):
            st.markdown(f"**k = {k}** ({len(result.prompt.ids)} prompt tokens)")
            show_tokens(
                [step.piece for step in result.steps],
                [step.probability for step in result.steps],
                chip_titles(result.steps),
            )
            st.text(f"Answer: {result.answer!r}")
            if state["scores"] is not None:
                scores = state["scores"]
                mark = "✓" if scores.correct[index] else "✗"
                st.text(f"P(expected {expected.strip()!r}) = {scores.probabilities[index]:.2%} {mark}")
            with st.expander("Prompt"):
                st.code(result.prompt.text, language=None, wrap_lines=True)


def experiment_tab(generator) -> None:
    set_key = st.selectbox(
        "Labelled set",
        options=list(LABELLED),
        format_func=lambda key: LABELLED[key].title,
        key=url.choice("set", default=next(iter(LABELLED)), options=list(LABELLED)),
    )
    labelled = LABELLED[set_key]
    ks = list(range(min(MAX_EXPERIMENT_SHOTS, len(labelled.demonstrations)) + 1))
    st.caption(
        f"{labelled.note} Each of the {len(labelled.items)} items is asked after the first k of "
        f"{len(labelled.demonstrations)} demonstrations, for k = 0…{ks[-1]}. On the real GPT-2 accuracy rises with k; "
        "on random weights (tests, offline demos) it is noise."
    )
    with st.expander("The demonstrations and items"):
        st.dataframe(
            pd.DataFrame(
                [("demonstration", e.input, e.output) for e in labelled.demonstrations]
                + [("item", e.input, e.output) for e in labelled.items],
                columns=["role", "input", "answer"],
            ),
            hide_index=True,
            width="stretch",
        )
    run = (generator.identity, set_key)
    pressed = st.button(f"Run k = 0…{ks[-1]}", icon="📈", key="gen__experiment_run")
    if run_from_link("experiment", f"Run k = 0…{ks[-1]}") or pressed:
        bar = st.progress(0.0)
        for done, k in enumerate(ks):
            bar.progress(done / len(ks), text=f"k = {k}: scoring {len(labelled.items)} items…")
            cached_shot_scores(generator, generator.identity, set_key, k)
        bar.empty()
        st.session_state[EXPERIMENT_KEY] = run
    if st.session_state.get(EXPERIMENT_KEY) != run:
        return
    scores = [cached_shot_scores(generator, generator.identity, set_key, k) for k in ks]
    curve = ShotCurve.from_scores(ks, scores)
    show_figure(
        shot_curve_figure(curve, labelled), name=f"few_shot_curve_{set_key}", table=shot_curve_table(curve, labelled)
    )
    st.caption(
        f"Bars: ±1 standard error over the {len(labelled.items)} items (they are a sample of the task). Where the "
        "bars of two k overlap, this set cannot tell those k apart: more items would."
    )


# ---------------------------------------------------------------------------------------
# The page


@dataclass(frozen=True)
class PromptInputs:
    """What the prompt builder holds: the task, the complete example rows, the query and how many shots."""

    task: str
    examples: list[Example]
    incomplete: int
    query: str
    expected: str
    shots: str
    few_k: int
    separator: str = ""


@dataclass(frozen=True)
class PageSlots:
    """Where each section draws (see page_slots)."""

    choose: DeltaGenerator
    builder: DeltaGenerator
    shots: DeltaGenerator
    decoding: DeltaGenerator
    prompt: DeltaGenerator
    run: DeltaGenerator
    next_token: DeltaGenerator


def page_slots() -> PageSlots:
    """The inputs that matter and the prompt on the left; Generate and the next-token chart on the right. The
    builder is folded, as the presets fill it: on a phone, where the columns stack, Generate stays on the second
    screen."""
    left, right = demo_columns()
    choose, shots, decoding = left.container(), left.container(), left.container()
    builder, prompt = left.expander("Edit the prompt: task, examples, query", icon="✏️"), left.container()
    run, next_token = right.container(), right.container()
    return PageSlots(choose, builder, shots, decoding, prompt, run, next_token)


def model_and_preset():
    """The model and the course preset, the preset's note below them."""
    causal_models = [entry.key for entry in models_of("causal-lm")]
    top = st.container(), st.container()
    model_key = top[0].selectbox(
        "Model",
        options=causal_models,
        format_func=lambda key: get_entry(key).display_name,
        key=url.choice("model", default=default_model("causal-lm").key, options=causal_models),
    )
    preset_key = top[1].selectbox(
        "Preset from the course",
        options=list(PRESETS),
        format_func=lambda key: PRESETS[key].title,
        key=url.choice("preset", default=next(iter(PRESETS)), options=list(PRESETS)),
        on_change=apply_preset,
    )
    return model_key, PRESETS[preset_key]


def prompt_builder(defaults: dict) -> tuple[str, list[Example], int, str, str]:
    """(task, complete example rows, rows left out, query, expected answer)."""
    task = st.text_area(
        "Task description (or a free prompt)",
        key=url.text("task", default=defaults["task"]),
        max_chars=MAX_TEXT_CHARS,
        height=90,
    )
    st.markdown("**Examples** (edit cells; add or delete rows)")
    table_examples, incomplete = examples_table(url_examples(defaults["examples"]))
    st.session_state[url.key("examples")] = examples_to_json(table_examples)
    query_column, answer_column = st.columns(2)
    query = query_column.text_input(
        "Query",
        key=url.text("query", default=defaults["query"], max_chars=MAX_PROMPT_CHARS),
        max_chars=MAX_PROMPT_CHARS,
    )
    expected = answer_column.text_input(
        "Expected answer (optional)",
        key=url.text("answer", default=defaults["answer"], max_chars=MAX_ANSWER_CHARS),
        max_chars=MAX_ANSWER_CHARS,
        help="Used to mark answers right or wrong and to score P(expected answer).",
    )
    return task, table_examples, incomplete, query, expected


def shots_controls(defaults: dict) -> tuple[str, int]:
    shots_column, k_column = st.columns([2, 1])
    shots = shots_column.radio(
        "Shots",
        options=list(SHOTS),
        format_func=SHOTS.get,
        horizontal=True,
        key=url.choice("shots", default=defaults["shots"], options=list(SHOTS)),
    )
    few_k = k_column.number_input(
        "few = k",
        min_value=2,
        max_value=MAX_FEW_SHOT_EXAMPLES,
        step=1,
        key=url.int("k", default=defaults["k"], lo=2, hi=MAX_FEW_SHOT_EXAMPLES),
    )
    return shots, int(few_k)


def separator_control(defaults: dict) -> str:
    return st.text_input(
        "Separator between input and output",
        key=url.text("sep", default=defaults["sep"], max_chars=MAX_SEPARATOR_CHARS),
        max_chars=MAX_SEPARATOR_CHARS,
        help='The course writes "sea otter => loutre de mer"; the GPT-3 slide uses "thanks -> merci".',
    )


def prompt_inputs(slots: PageSlots, preset, defaults: dict) -> PromptInputs:
    with slots.builder:
        st.caption(preset.note)
        task, examples, incomplete, query, expected = prompt_builder(defaults)
    with slots.shots:
        shots, few_k = shots_controls(defaults)
    with slots.builder:
        separator = separator_control(defaults)
    return PromptInputs(task, examples, incomplete, query, expected, shots, few_k, separator)


def decoding_controls(defaults: dict) -> dict:
    """The decoding choices that matter in class: greedy or sampling, the length and the newline stop."""
    left, right = st.columns(2)
    return {
        "sample": left.radio(
            "Decoding",
            options=list(DECODING),
            format_func=DECODING.get,
            horizontal=True,
            key=url.choice("decode", default="greedy", options=list(DECODING)),
        )
        == "sample",
        "max_new_tokens": right.slider(
            "Max new tokens",
            MIN_NEW_TOKENS,
            MAX_NEW_TOKENS,
            key=url.int("max_new", default=defaults["max_new"], lo=MIN_NEW_TOKENS, hi=MAX_NEW_TOKENS),
        ),
        "stop_at_newline": left.toggle(
            "Stop at newline",
            key=url.bool("stop_nl", default=defaults["stop_nl"]),
            help="For few-shot answers: stop when the answer line ends.",
        ),
    }


def sampling_controls(sample: bool) -> dict:
    # Folded: the presets need none of these, and on a phone they would push Generate down a screen.
    with st.expander("Sampling settings: temperature, top-k, top-p, seed, repetition penalty"):
        sampling = st.columns(2) * 2
        return {
            "temperature": sampling[0].slider(
                "Temperature",
                0.0,
                MAX_TEMPERATURE,
                step=0.05,
                key=url.float("temp", default=1.0, lo=0.0, hi=MAX_TEMPERATURE),
                disabled=not sample,
                help="Divides the logits: below 1 sharpens, above 1 flattens. 0 means greedy.",
            ),
            "top_k": sampling[1].number_input(
                "Top-k (0 = off)",
                min_value=0,
                max_value=MAX_TOP_K,
                step=1,
                key=url.int("top_k", default=50, lo=0, hi=MAX_TOP_K),
                disabled=not sample,
                help="Sample only among the k most likely tokens.",
            ),
            "top_p": sampling[2].slider(
                "Top-p (1 = off)",
                0.0,
                1.0,
                step=0.01,
                key=url.float("top_p", default=1.0, lo=0.0, hi=1.0),
                disabled=not sample,
                help="Sample among the most likely tokens whose probabilities add up to p.",
            ),
            "seed": st.number_input(
                "Seed",
                min_value=0,
                max_value=MAX_SEED,
                step=1,
                key=url.int("seed", default=0, lo=0, hi=MAX_SEED),
                disabled=not sample,
                help="The same seed reproduces the same sample; it is kept in the link.",
            ),
            "repetition_penalty": sampling[3].slider(
                "Repetition penalty (1 = off)",
                1.0,
                MAX_REPETITION_PENALTY,
                step=0.05,
                key=url.float("rep", default=1.0, lo=1.0, hi=MAX_REPETITION_PENALTY),
                help="Makes tokens already in the text less likely (greedy too).",
            ),
        }


def decoding_settings(values: dict, generator, notices: DeltaGenerator) -> DecodingSettings | None:
    """The settings, checked; what is wrong or worth knowing about them goes to the notices."""
    try:
        settings = DecodingSettings(
            sample=bool(values["sample"]),
            temperature=float(values["temperature"]),
            top_k=int(values["top_k"]),
            top_p=float(values["top_p"]),
            repetition_penalty=float(values["repetition_penalty"]),
            max_new_tokens=int(values["max_new_tokens"]),
            stop_at_newline=bool(values["stop_at_newline"]),
            seed=int(values["seed"]),
        )
    except ValueError as error:
        notices.warning(f"Decoding settings not valid: {error}. Adjust them above.")
        return None
    for note in settings_notes(settings):
        notices.info(note)
    if not settings.greedy and not generator.runs_here:
        notices.caption(
            f"Samples are drawn by {generator.where}: a seed gives the same text every time there, "
            "not the text this app's own engine would draw with it."
        )
    return settings


def shots_used(inputs: PromptInputs, notices: DeltaGenerator) -> tuple[list[Example], int]:
    """(the examples a prompt may use, k): the table's complete rows up to the limit, and the k asked for if the
    table has that many; what was left out is said in the notices."""
    wanted_k = {"zero": 0, "one": 1, "few": inputs.few_k}[inputs.shots]
    examples = inputs.examples[:MAX_FEW_SHOT_EXAMPLES]
    if len(inputs.examples) > MAX_FEW_SHOT_EXAMPLES:
        notices.warning(f"Only the first {MAX_FEW_SHOT_EXAMPLES} examples are used (the limit for one prompt).")
    if inputs.incomplete:
        notices.caption(f"{inputs.incomplete} example row(s) without both an input and an output are left out.")
    k = min(wanted_k, len(examples))
    if wanted_k > len(examples):
        notices.warning(f"k = {wanted_k} examples asked for, but the table has {len(examples)}: using k = {k}.")
    return examples, k


def prompt_section(generator, prompt_text: str, max_new: int, k: int) -> PreparedPrompt | None:
    """The prompt exactly as the model reads it, its length against the context, and its tokens."""
    st.markdown("**The prompt, exactly as the model reads it**")
    if not prompt_text.strip():
        st.info("The prompt is empty: write a task description, add examples or type a query (or pick a preset).")
        return None
    prompt = prepare_prompt(
        generator.tokenizer, prompt_text, max_new_tokens=max_new, context_length=generator.context_length
    )
    long_prompt = prompt.text.count("\n") > 14 or len(prompt.text) > 1200
    st.code(prompt.text, language=None, wrap_lines=True, height=PROMPT_VIEW_HEIGHT if long_prompt else "content")
    st.caption(
        f"{len(prompt.ids)} tokens · k = {k} example{'s' if k != 1 else ''} · "
        f"{generator.entry.display_name}'s context holds {generator.context_length:,} tokens"
    )
    truncation = describe_truncation(prompt, max_new, generator.context_length)
    if truncation:
        st.warning(truncation)
    with st.expander("The prompt's tokens"):
        show_tokens(prompt.pieces)
    return prompt


def next_token_section(generator, prompt: PreparedPrompt) -> None:
    distribution = next_tokens(generator, prompt)
    show_figure(
        figure_once(
            (generator.identity, tuple(prompt.ids.tolist()), "next token"), lambda: next_token_figure(distribution)
        ),
        name="next_token_distribution",
        table=next_token_table(distribution),
        main=True,
        room=PRESENTER_CHART_ROOM,
    )


def run_tabs(generator, prompt, settings, inputs: PromptInputs, examples: list[Example]) -> None:
    if not lecture_mode():  # the sidebar says it too; on the projector the room goes to the next-token chart
        st.caption(f"Tokens are computed by {generator.where}.")
    generate_view, shots_view, experiment_view = st.tabs(["▶️ Generate", "⚖️ k = 0 / 1 / few", "📈 k = 0…8 experiment"])
    with generate_view:
        if prompt is None or settings is None:
            st.info("Fix the prompt or the settings above to generate.")
        else:
            generate_tab(generator, prompt, settings, inputs.expected)
    with shots_view:
        if settings is None:
            st.info("Fix the settings above to compare.")
        else:
            shots_tab(
                generator,
                inputs.task,
                examples,
                inputs.query,
                inputs.separator,
                inputs.few_k,
                settings,
                inputs.expected,
            )
    with experiment_view:
        experiment_tab(generator)


def generation_page() -> None:
    """Lay out the page. A function, not module code: widget callbacks keep the page's globals alive
    for as long as the student's session lasts, and a model held there could never be let go."""
    page_lead("✍️ Generation: zero-, one- and few-shot prompts", LEAD)
    notices = st.container()
    slots = page_slots()
    with slots.choose:
        model_key, preset = model_and_preset()
        generator = generator_for(model_key, notices)
    defaults = preset_values(preset)
    inputs = prompt_inputs(slots, preset, defaults)
    with slots.decoding:
        values = decoding_controls(defaults)
        values |= sampling_controls(values["sample"])
    settings = decoding_settings(values, generator, notices)
    examples, k = shots_used(inputs, notices)
    prompt_text = build_prompt(inputs.task, examples, inputs.query, k, inputs.separator)
    with slots.prompt:
        prompt = prompt_section(generator, prompt_text, int(values["max_new_tokens"]), k)
    if prompt is not None:
        with slots.next_token:
            next_token_section(generator, prompt)
            if settings is not None:
                show_sampling_filter(generator, prompt, settings)
    with slots.run:
        run_tabs(generator, prompt, settings, inputs, examples)
    url.write()
    with notices:
        url.show_link_notes()


def page() -> None:
    try:
        generation_page()
    except GenerationServerError as error:
        # The server failed between two checks (a score, a next-token reading): say so, and draw the page again
        # with this app's own engine; the watch remembers the failure, so this cannot loop.
        report_server_failure(str(error))
        st.rerun()


page()
