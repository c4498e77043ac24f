"""Fine-tuning lab: transfer learning done live. A real pre-trained encoder (all-MiniLM-L6-v2) against the same
architecture from scratch, frozen or fine-tuned layer by layer, fully or with LoRA, on a few labelled examples."""

import dataclasses
import math

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from models.finetune import (
    STRATEGIES,
    STRATEGY_NAMES,
    FinetuneResult,
    FinetuneSettings,
    load_task,
)
from models.limits import MAX_FINETUNE_EPOCHS, MAX_FINETUNE_PER_CLASS, MAX_SEED
from models.training_runs import RunView, TrainingRun, TrainingRuns
from ui import finetune_charts as charts
from ui.engine_wait import HIDE_STREAMLIT_STOP, still_connected
from ui.figures import show_figure
from ui.lecture import demo_columns, more_controls, page_lead
from ui.loaders import require_model
from ui.share import run_from_link
from ui.url_state import UrlState

MODEL_KEY = "all-minilm-l6-v2"
LEARNING_RATES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 1.0, 10.0)
SWEEP_SIZES = (4, 8, 16, 32)
LORA_RANKS = [1, 2, 4, 8, 16, 32]  # the ranks a student picks from (the settings allow up to 64)
WATCH_KEY = "ft__watching"  # the settings whose run this session is watching
STOPPED_KEY = "ft__stopped"  # (settings, epochs seen) of the run this session stopped

LEAD = (
    "**Transfer learning, live.** Copy a pre-trained encoder, put a small classifier on top, and train on a "
    "handful of labelled reviews. The test reviews use describing words that **never appear in the training "
    "examples**, so only what the encoder learned before (pre-training) can tell \u201csuperb\u201d from "
    "\u201cdismal\u201d there."
)

HOW_IT_WORKS = {
    "scratch": "The same 6-layer architecture with fresh random weights: every parameter is learned from your few "
    "examples. It memorises the training words and cannot generalise to new ones: the **data limitation** "
    "that makes transfer learning necessary.",
    "probe": "**Copy the pre-trained weights and freeze them**; only a linear layer on the sentence vector is "
    "trained (the linear probe). Cheapest, and the encoder cannot forget anything.",
    "top": "Freeze the bottom layers, fine-tune the top ones (general features low, task-specific features high), "
    "with a **smaller learning rate** for the encoder than for the new head.",
    "full": "Every weight is trained. Most flexible, but with a high learning rate the encoder drifts away from what it "
    "learned: **catastrophic forgetting** (see the paraphrase test below).",
    "lora": "**Parameter-efficient fine-tuning**: the pre-trained model stays frozen; small low-rank matrices "
    "(W + B·A, rank r) are added to the attention's query and value projections and trained with the head.",
}


@st.cache_resource
def training_runs() -> TrainingRuns:
    """One registry of runs for the whole server: a class pressing the same preset trains once."""
    return TrainingRuns()


@st.cache_data
def task_facts() -> tuple[str, str, int, int, str]:
    task = load_task()
    return task.name, task.licence, len(task.train_pool), len(task.test), ", ".join(task.labels)


def nearest_rate(value: float) -> float:
    return min(LEARNING_RATES, key=lambda stop: abs(math.log10(stop) - math.log10(max(value, 1e-12))))


def rate_slider(url: UrlState, name: str, label: str, default: float, help: str) -> float:
    key = url.float(name, default, LEARNING_RATES[0], LEARNING_RATES[-1])
    st.session_state[key] = nearest_rate(st.session_state[key])
    return st.select_slider(label, LEARNING_RATES, key=key, format_func=lambda v: f"{v:g}", help=help)


def settings_section(url: UrlState, layers: int) -> FinetuneSettings | None:
    defaults = FinetuneSettings()
    strategies = st.pills(
        "Strategies to compare",
        list(STRATEGIES),
        selection_mode="multi",
        format_func=STRATEGY_NAMES.get,
        key=url.multi("strategies", list(STRATEGIES), list(STRATEGIES)),
    )
    per_class_column, epochs_column = st.columns(2)
    per_class = per_class_column.slider(
        "Labelled examples per class",
        4,
        MAX_FINETUNE_PER_CLASS,
        key=url.int("k", defaults.per_class, 4, MAX_FINETUNE_PER_CLASS),
    )
    epochs = epochs_column.slider(
        "Epochs", 1, MAX_FINETUNE_EPOCHS, key=url.int("epochs", defaults.epochs, 1, MAX_FINETUNE_EPOCHS)
    )
    augment = st.toggle(
        "Data augmentation",
        key=url.bool("augment", defaults.augment),
        help="Synonym replacement: each example again, with its describing word swapped for "
        "another of the same label and the thing reviewed for another.",
    )
    head_lr, encoder_lr, top_layers, lora_rank, seed = finer_settings(url, layers, defaults)
    if not strategies:
        st.info("Pick at least one strategy above to train.", icon="👆")
        return None
    try:
        return FinetuneSettings(
            strategies=tuple(s for s in STRATEGIES if s in strategies),
            per_class=per_class,
            epochs=epochs,
            head_lr=head_lr,
            encoder_lr=encoder_lr,
            top_layers=top_layers,
            lora_rank=lora_rank,
            augment=augment,
            seed=int(seed),
        )
    except ValueError as error:  # a run too long for a shared server: say what to lower
        st.warning(str(error), icon="⏱️")
        return None


def finer_settings(url: UrlState, layers: int, defaults: FinetuneSettings) -> tuple[float, float, int, int, int]:
    """(head learning rate, encoder learning rate, top layers trained, LoRA rank, seed), folded in lecture mode."""
    with more_controls("Learning rates, layers, seed"):
        head_column, encoder_column = st.columns(2)
        with head_column:
            head_lr = rate_slider(
                url,
                "head_lr",
                "Learning rate of the new head",
                defaults.head_lr,
                "The linear classifier starts from scratch, so it can learn fast.",
            )
        with encoder_column:
            encoder_lr = rate_slider(
                url,
                "enc_lr",
                "Learning rate of the encoder",
                defaults.encoder_lr,
                "Pre-trained weights are moved gently; LoRA's adapters get 10× this (at most the head's).",
            )
        top_column, rank_column = st.columns(2)
        top_layers = top_column.slider(
            "Top layers trained (the rest frozen)",
            1,
            layers,
            key=url.int("top", min(defaults.top_layers, layers), 1, layers),
        )
        lora_rank = rank_column.select_slider(
            "LoRA rank r", LORA_RANKS, key=url.choice("rank", defaults.lora_rank, LORA_RANKS)
        )
        seed = st.number_input(
            "Seed",
            0,
            MAX_SEED,
            step=1,
            key=url.int("seed", 0, 0, MAX_SEED),
            help="The same settings and seed give the same curves, bit for bit.",
        )
    return head_lr, encoder_lr, top_layers, lora_rank, int(seed)


def stop_watching() -> None:
    watched = st.session_state.pop(WATCH_KEY, None)
    if watched is not None:
        st.session_state[STOPPED_KEY] = watched


def watch(runs: TrainingRuns, run: TrainingRun, live_slot, label: str) -> RunView:
    """Draw the run's curves as epochs finish, until it ends (or this session stops watching: Stop, a change
    on the page, a closed tab). The run itself goes on while any other student still watches it."""
    drawn = None
    try:
        while not run.finished.wait(0.4):
            if not still_connected():
                break
            view = run.view(runs.ahead_of(run))
            if (view.state, view.ahead, len(view.records)) == drawn:
                continue  # nothing new: the same chart again would only cost the server and the browser
            drawn = (view.state, view.ahead, len(view.records))
            with live_slot.container():
                if view.state == "queued":
                    st.info(
                        f"{label}: waiting for the server, {view.ahead} run{'s' if view.ahead != 1 else ''} ahead "
                        "(runs train one at a time; the same settings train once for the whole class).",
                        icon="⏳",
                    )
                else:
                    show_progress(view, run.settings)
    finally:
        runs.leave(run)
    return run.view(0)


def show_progress(view: RunView, settings: FinetuneSettings) -> None:
    done = len(view.records)
    total = len(settings.strategies) * settings.epochs
    current = view.records[-1] if view.records else None
    st.progress(
        min(done / total, 1.0),
        text=f"Training… {done} of {total} epochs"
        + (f" · {STRATEGY_NAMES[current.strategy]}, epoch {current.epoch}" if current else ""),
    )
    show_figure(
        charts.curves_figure(view.records, settings.epochs),
        name="finetune-curves-live",
        key=f"ft_curves_live_{id(settings)}_{done}",
    )


def train_section(loaded, settings: FinetuneSettings, main: DeltaGenerator) -> FinetuneResult | None:
    """Train with its note below the settings; the live curves go to `main`, beside them."""
    runs = training_runs()
    finished = runs.finished(settings)
    button_slot, note_slot = st.container(), st.container()
    pressed = button_slot.button("Train", type="primary", icon="🏋️", disabled=finished is not None)
    if (run_from_link("train", "Train") and finished is None) or pressed:
        st.session_state[WATCH_KEY] = settings
        st.session_state.pop(STOPPED_KEY, None)
    if finished is not None:
        note_slot.caption("These settings were trained already (by you or a classmate): the result is shown at once.")
        return finished.view(0).result
    if st.session_state.get(WATCH_KEY) != settings:
        show_not_trained(settings, note_slot)
        return None
    stop_slot, live_slot = st.empty(), main.empty()
    with stop_slot.container():
        st.button("Stop", icon="⏹️", key="ft__stop", on_click=stop_watching, help="Stop training; nothing is kept.")
        st.markdown(HIDE_STREAMLIT_STOP, unsafe_allow_html=True)
    view = watch(runs, runs.join(loaded, settings), live_slot, "Training")
    stop_slot.empty()
    live_slot.empty()
    if view.state == "failed":
        st.session_state.pop(WATCH_KEY, None)
        st.error(f"Training failed ({view.error}). Change a setting or press Train again.", icon="🛑")
        return None
    if view.state != "done":
        st.session_state.pop(WATCH_KEY, None)
        st.warning("Training stopped before the end: nothing was kept. Press **Train** to run it again.", icon="⏹️")
        return None
    return view.result


def show_not_trained(settings: FinetuneSettings, where) -> None:
    if st.session_state.get(STOPPED_KEY) == settings:
        where.warning("Stopped: nothing was kept. Press **Train** to run it again.", icon="⏹️")
    else:
        where.caption(
            f"Press **Train** to train {len(settings.strategies)} strateg{'y' if len(settings.strategies) == 1 else 'ies'} "
            f"on {2 * settings.per_class} labelled reviews (about {estimate_seconds(settings):.0f} s on 2 CPUs)."
        )


def estimate_seconds(settings: FinetuneSettings) -> float:
    """Rough, from bench/bench_finetune.py: about 0.23 s per step of 16 reviews through the whole encoder."""
    steps = settings.steps
    heavy = sum(1 for s in settings.strategies if s in ("scratch", "full", "lora")) + 0.4 * (
        "top" in settings.strategies
    )
    return heavy * (steps * 0.23 + settings.epochs * 0.25 + 0.7) + 1.0 * ("probe" in settings.strategies)


def results_section(result: FinetuneResult) -> None:
    show_figure(
        charts.curves_figure([r for item in result.results for r in item.history], result.settings.epochs),
        name="finetune-curves",
        key="ft_curves",
        main=True,
    )
    for item in result.results:
        if item.diverged_at is not None:
            st.warning(
                f"**{STRATEGY_NAMES[item.strategy]}** diverged at epoch {item.diverged_at}: its training loss "
                "exploded (far above a blind guess's), so it was stopped there. The learning rate is too high; lower it (1e-4 is typical for the encoder, 3e-3 for the "
                "head).",
                icon="💥",
            )
    table = charts.results_table(result)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "trainable parameters": st.column_config.NumberColumn(format="%d"),
            "test accuracy": st.column_config.NumberColumn(format="percent"),
            "drift of sentence vectors": st.column_config.NumberColumn(format="%.3f"),
            "seconds": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    st.caption(
        f"Trained on {result.train_size} labelled reviews, tested on {result.test_size} with unseen describing "
        "words. Paraphrases found: of 24 sentences, how many find their own paraphrase among 24 others as their "
        "nearest neighbour (the encoder's pre-trained skill); drift: 1 − cosine between each sentence's vector "
        "before and after training (0: unchanged)."
    )
    if "full" in result.settings.strategies and result.settings.encoder_lr < 1e-3:
        st.info(
            "**Catastrophic forgetting:** raise the encoder's learning rate to 1e-3 and train again. Full "
            "fine-tuning then overwrites what pre-training taught: on the real weights, paraphrases found fall from "
            "100 % to about half, and even the task suffers. The frozen strategies cannot forget.",
            icon="🧠",
        )


def sweep_section(loaded, settings: FinetuneSettings) -> None:
    st.subheader("How many labelled examples does it take?")
    runs = training_runs()
    sized = {}
    for k in sorted(set(SWEEP_SIZES) | {settings.per_class}):
        try:
            sized[k] = dataclasses.replace(settings, per_class=k)
        except ValueError:  # too many steps at this size with these epochs: left out of the sweep
            continue
    sizes = list(sized)
    missing = [k for k in sizes if runs.finished(sized[k]) is None]
    if missing and st.button(
        f"Train at {', '.join(map(str, missing))} examples per class too", icon="📈", key="ft__sweep"
    ):
        live_slot = st.empty()
        for k in missing:
            view = watch(runs, runs.join(loaded, sized[k]), live_slot, f"{k} examples per class")
            if view.state != "done":
                live_slot.empty()
                st.warning("The sweep stopped before the end; the sizes already trained are kept.", icon="⏹️")
                break
        live_slot.empty()
    points = {strategy: [] for strategy in settings.strategies}
    for k in sizes:
        done = runs.finished(sized[k])
        if done is not None and done.view(0).result is not None:
            for item in done.view(0).result.results:
                if item.history and item.diverged_at is None:
                    points[item.strategy].append((k, item.test_accuracy))
    if sum(len(pairs) for pairs in points.values()) == 0:
        st.caption("Train first: each size trained (by anyone in the class) adds its points here.")
        return
    show_figure(
        charts.accuracy_by_examples_figure(points),
        name="finetune-by-examples",
        table=charts.sweep_table(points),
        key="ft_by_examples",
    )
    st.caption(
        "With a few examples, pre-trained strategies are far ahead; from scratch, the model stays near chance "
        "on words it never saw, however many reviews of the training words it gets."
    )


def how_it_works_section(settings: FinetuneSettings) -> None:
    name, licence, pool, test, labels = task_facts()
    with st.expander("How it works: the strategies, the data, the model", expanded=False):
        for strategy in STRATEGIES:
            st.markdown(f"**{STRATEGY_NAMES[strategy]}.** {HOW_IT_WORKS[strategy]}")
        st.markdown(
            f"**Data.** {name} ({labels}): a pool of {pool} training reviews and {test} test reviews, built for the "
            f"course from templates; licence {licence} **Augmentation** (synonym replacement) doubles the training "
            "set with label-preserving swaps of words the training pool already uses.\n\n"
            "**Model.** all-MiniLM-L6-v2 (Apache-2.0): a 6-layer BERT encoder, 22.7 M parameters, trained to give "
            "similar vectors to similar sentences. A sentence's vector is the mean of its token vectors; the head is "
            "one linear layer on it. Dropout is off and every random draw is seeded, so runs repeat exactly."
        )


def page() -> None:
    page_lead("🧪 Fine-tuning lab", LEAD)
    url = UrlState("ft")
    loaded = require_model(MODEL_KEY)
    inputs, main = demo_columns()
    with inputs:
        settings = settings_section(url, loaded.model.config.num_hidden_layers)
        url.write()
        url.show_link_notes()
        result = train_section(loaded, settings, main) if settings is not None else None
    with main:
        if result is not None:
            results_section(result)
        elif settings is not None:
            st.info("The training curves appear here: press **Train**.", icon="📈")
    if settings is not None:
        sweep_section(loaded, settings)
        how_it_works_section(settings)


page()
