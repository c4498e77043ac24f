"""Write assets/finetune_reviews.json: the fine-tuning lab's labelled task, built for the course.

    python scripts/make_review_set.py

Short reviews, positive or negative, from templates, things reviewed and describing words. The describing
words are split in two: the training pool uses one half, the test split only the other half, so a model
can only score on the test split with what it knew about words before it saw any labelled example. The
output is fixed by the seed below; the file is committed, and this script shows how it was made.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 2026
TRAIN_PER_CLASS = 64  # the pool the page draws its 4…64 labelled examples per class from
TEST_PER_CLASS = 100

POSITIVE = """wonderful excellent delightful superb brilliant charming lovely fantastic marvellous terrific splendid
enjoyable pleasant outstanding impressive gorgeous magnificent heartwarming uplifting refreshing exceptional
fabulous stunning inspiring beautiful great amazing perfect awesome engaging captivating glorious wholesome
elegant memorable thrilling moving sublime flawless joyful""".split()
NEGATIVE = """terrible awful dreadful horrible boring dull disappointing tedious mediocre unpleasant annoying lousy
atrocious bland clumsy painful miserable tiresome pathetic abysmal shoddy forgettable awkward depressing sloppy
dismal frustrating poor bad ugly stale lifeless pointless unbearable flat grim joyless confusing weak messy""".split()
THINGS = [
    "film",
    "lecture",
    "concert",
    "novel",
    "restaurant",
    "hotel room",
    "museum tour",
    "soup",
    "album",
    "play",
    "podcast",
    "video game",
    "coffee",
    "train journey",
    "workshop",
    "exhibition",
    "sitcom",
    "textbook",
    "keynote",
    "holiday",
]
TEMPLATES = [
    "The {thing} was {word}.",
    "What {a_word} {thing}!",
    "I found the {thing} {word}.",
    "Honestly, the {thing} felt {word} from start to finish.",
    "Our {thing} turned out {word}.",
    "Everyone agreed the {thing} was {word}.",
    "It was {a_word} {thing}, to be honest.",
    "My friends thought the {thing} was {word}, and so did I.",
    "I would describe the {thing} as {word}.",
    "Quite simply {a_word} {thing}.",
    "The whole {thing} was rather {word}.",
    "That {thing}? {Word}.",
]


def with_article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def sentence(rng: random.Random, word: str) -> str:
    template = rng.choice(TEMPLATES)
    return template.format(thing=rng.choice(THINGS), word=word, a_word=with_article(word), Word=word.capitalize())


def build() -> dict:
    rng = random.Random(SEED)
    split = {}
    for label, words in (("positive", POSITIVE), ("negative", NEGATIVE)):
        shuffled = words[:]
        rng.shuffle(shuffled)
        split[label] = {"train": sorted(shuffled[:24]), "test": sorted(shuffled[24:])}
    examples = {"train": [], "test": []}
    for part, count in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        for label in ("positive", "negative"):
            words = split[label][part]
            seen: set[str] = set()
            while len(seen) < count:
                seen.add(sentence(rng, words[len(seen) % len(words)]))
            examples[part] += [{"text": text, "label": label} for text in sorted(seen)]
        rng.shuffle(examples[part])
    return {
        "name": "Course reviews: positive or negative",
        "licence": "CC0-1.0: written for Lecture Lab from templates (scripts/make_review_set.py); no third-party text.",
        "labels": ["negative", "positive"],
        "words": split,
        "things": THINGS,
        "templates": TEMPLATES,
        "train": examples["train"],
        "test": examples["test"],
    }


if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "assets" / "finetune_reviews.json"
    target.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {target}")
