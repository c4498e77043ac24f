"""CLIP zero-shot against open_clip's own recipe on the same tiny random-weight model."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss
from PIL import Image

from models import zero_shot as zs
from models.images import gallery, load_gallery_photo

CONTEXT = 77


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    return [load_gallery_photo(photo).image for photo in gallery()[:3]]


def reference_text_vectors(model, tokenizer, prompts: list[str]) -> torch.Tensor:
    """open_clip's plain recipe: tokenise to 77, encode_text, normalise."""
    with torch.inference_mode():
        return F.normalize(model.encode_text(tokenizer(prompts)), dim=-1)


def reference_image_vectors(model, preprocess, images) -> torch.Tensor:
    with torch.inference_mode():
        return F.normalize(model.encode_image(torch.stack([preprocess(image) for image in images])), dim=-1)


# -- the zero-shot recipe ----------------------------------------------------------------


def test_probabilities_equal_open_clip_recipe(tiny_clip, photos):
    labels = ["cat", "astronaut", "cup of coffee", "rocket"]
    template = "a photo of a {}"
    model, tokenizer = tiny_clip.model, open_clip.get_tokenizer("ViT-B-32")
    image_features = reference_image_vectors(model, tiny_clip.preprocess, photos)
    text_features = reference_text_vectors(model, tokenizer, [f"a photo of a {label}" for label in labels])
    with torch.inference_mode():
        expected = (model.logit_scale.exp() * image_features @ text_features.T).softmax(dim=-1).numpy()
        expected_cosine = (image_features @ text_features.T).numpy()

    result = zs.classify(tiny_clip, photos, zs.embed_labels(tiny_clip, labels, [template]))

    assert result.labels == tuple(labels)
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-5)
    np.testing.assert_allclose(result.cosine, expected_cosine, atol=1e-5)
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert result.logit_scale == pytest.approx(float(model.logit_scale.detach().exp()))


def test_ensemble_is_mean_of_unit_template_vectors_renormalised(tiny_clip):
    labels = ["cat", "dog", "astronaut"]
    templates = zs.shipped_templates().default_ensemble
    per_template = torch.stack(
        [
            reference_text_vectors(tiny_clip.model, tiny_clip.tokenizer, [zs.fill(t, label) for t in templates])
            for label in labels
        ]
    )  # (labels, templates, dim), unit rows
    expected = F.normalize(per_template.mean(dim=1), dim=-1).numpy()

    embeddings = zs.embed_labels(tiny_clip, labels, templates)

    assert embeddings.vectors.shape == expected.shape
    np.testing.assert_allclose(embeddings.vectors, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(embeddings.vectors, axis=1), 1.0, atol=1e-5)


# -- encoding text only up to the longest prompt -----------------------------------------


def test_trimmed_text_encoder_equals_encode_text_at_full_context(tiny_clip):
    long_label = " ".join(["extraordinarily"] * 60)  # past 77 tokens: the tokenizer cuts it, EOT at position 76
    prompts = ["cat", "a photo of a dog", "a blurry photo of a small dog in the rain", long_label, ""]
    tokens = tiny_clip.tokenizer(prompts)
    assert int(tokens.argmax(dim=-1).max()) == CONTEXT - 1
    with torch.inference_mode():
        expected = tiny_clip.model.encode_text(tokens)
        ours = zs.encode_text_trimmed(tiny_clip.model, tokens)
        short_only = zs.encode_text_trimmed(tiny_clip.model, tokens[:3])
    np.testing.assert_allclose(ours.numpy(), expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(short_only.numpy(), expected[:3].numpy(), atol=1e-5)


def test_trimmed_path_really_runs_fewer_positions(tiny_clip):
    seen = []
    hook = tiny_clip.model.transformer.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    try:
        with torch.inference_mode():
            zs.encode_text_trimmed(tiny_clip.model, tiny_clip.tokenizer(["a photo of a cat"]))
    finally:
        hook.remove()
    assert seen == [len(tiny_clip.tokenizer.encode("a photo of a cat")) + 2]


def custom_text_clip(no_causal_mask: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    model = open_clip.CustomTextCLIP(
        embed_dim=16,
        vision_cfg={"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
        text_cfg={
            "context_length": CONTEXT,
            "vocab_size": 49408,
            "width": 32,
            "heads": 2,
            "layers": 2,
            "no_causal_mask": no_causal_mask,
        },
    )
    return model.eval()


@pytest.mark.parametrize("no_causal_mask", [False, True], ids=["causal", "bidirectional"])
def test_trimming_is_generic_over_custom_text_clip_and_falls_back_when_not_causal(no_causal_mask):
    model = custom_text_clip(no_causal_mask)
    tokens = open_clip.get_tokenizer("ViT-B-32")(["a photo of a cat", "a dog"])
    with torch.inference_mode():
        np.testing.assert_allclose(
            zs.encode_text_trimmed(model, tokens).numpy(), model.encode_text(tokens).numpy(), atol=1e-5
        )
    assert (zs._causal_text_tower(model) is None) == no_causal_mask


def test_encode_prompts_sent_in_chunks_equal_one_pass(tiny_clip, monkeypatch):
    monkeypatch.setattr(zs, "TEXT_CHUNK", 2)
    prompts = [f"a photo of {n} cats" for n in range(5)]
    expected = reference_text_vectors(tiny_clip.model, tiny_clip.tokenizer, prompts).numpy()
    np.testing.assert_allclose(zs.encode_prompts(tiny_clip, prompts), expected, atol=1e-5)


def test_encode_images_reports_progress(tiny_clip, photos, monkeypatch):
    monkeypatch.setattr(zs, "IMAGE_BATCH", 2)
    calls = []
    vectors = zs.encode_images(tiny_clip, photos, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 3), (3, 3)]
    expected = reference_image_vectors(tiny_clip.model, tiny_clip.preprocess, photos).numpy()
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


# -- checking labels and templates -------------------------------------------------------


def test_parse_lines_accepts_lines_and_commas():
    assert zs.parse_lines("cat, dog\n\n  bird \n,") == ["cat", "dog", "bird"]


def test_duplicate_labels_are_merged_the_way_clip_reads_them(tiny_clip):
    checked = zs.check_labels(["Cat", "dog", "cat ", "CAT", "dog"], tiny_clip.tokenizer, ["{}"], CONTEXT)
    assert checked.items == ("Cat", "dog")
    assert any("Merged 3 duplicate" in notice.message for notice in checked.notices)


def test_labels_over_the_cap_are_cut_with_a_notice(tiny_clip):
    raw = [f"thing {n}" for n in range(30)]
    checked = zs.check_labels(raw, tiny_clip.tokenizer, ["{}"], CONTEXT, max_labels=20)
    assert checked.items == tuple(raw[:20])
    notice = next(n for n in checked.notices if "Only the first 20" in n.message)
    assert notice.examples == tuple(raw[20:])


def test_label_longer_than_the_context_is_cut_to_fit_every_template(tiny_clip):
    templates = ["a photo of a {}", "a black and white photo of the {}."]
    long_label = "a very " + "very " * 100 + "long cat"
    checked = zs.check_labels([long_label, "dog"], tiny_clip.tokenizer, templates, CONTEXT)
    cut = checked.items[0]
    assert cut != long_label and long_label.lower().startswith(cut)
    counts = [len(tiny_clip.tokenizer.encode(zs.fill(template, cut))) + 2 for template in templates]
    assert max(counts) <= CONTEXT
    assert max(counts) >= CONTEXT - 2  # cut no shorter than needed: one more word would not fit
    assert any("cut to fit" in notice.message for notice in checked.notices)
    assert checked.items[1] == "dog"


def test_one_label_explains_why_its_probability_is_one(tiny_clip, photos):
    checked = zs.check_labels(["cat"], tiny_clip.tokenizer, ["{}"], CONTEXT)
    assert any("single option" in notice.message for notice in checked.notices)
    result = zs.classify(tiny_clip, photos[:1], zs.embed_labels(tiny_clip, ["cat"], ["{}"]))
    assert result.probabilities[0, 0] == pytest.approx(1.0)


def test_no_labels_gives_an_empty_result_not_an_error(tiny_clip):
    assert zs.check_labels([" ", ""], tiny_clip.tokenizer, ["{}"], CONTEXT).items == ()


def test_template_without_slot_gets_the_label_appended(tiny_clip):
    checked = zs.check_templates(["a photo of"], tiny_clip.tokenizer, CONTEXT)
    assert checked.items == ("a photo of {}",)
    assert checked.notices[0].examples == ("a photo of",)
    assert zs.fill(checked.items[0], "cat") == "a photo of cat"


def test_templates_deduplicated_capped_and_too_long_ones_refused(tiny_clip):
    too_long = "a " * 60 + "{}"
    raw = ["a photo of a {}", "A photo of a  {}", too_long] + [f"style {n} of {{}}" for n in range(30)]
    checked = zs.check_templates(raw, tiny_clip.tokenizer, CONTEXT, max_templates=5)
    assert checked.items[0] == "a photo of a {}"
    assert too_long not in checked.items and len(checked.items) == 5
    assert any(too_long in notice.examples for notice in checked.notices)


def test_no_usable_template_falls_back_to_the_default(tiny_clip):
    checked = zs.check_templates(["", "  "], tiny_clip.tokenizer, CONTEXT)
    assert checked.items == (zs.DEFAULT_TEMPLATE,)


def test_braces_other_than_the_slot_are_harmless():
    assert zs.fill("{0} {name} a photo of a {}", "cat") == "{0} {name} a photo of a cat"


def test_captions_keep_order_and_duplicates(tiny_clip):
    checked = zs.check_captions(["a cat", "a dog", "a cat", ""], tiny_clip.tokenizer, CONTEXT, max_captions=8)
    assert checked.items == ("a cat", "a dog", "a cat")


def test_shipped_templates_are_usable():
    shipped = zs.shipped_templates()
    assert len(shipped.templates) >= 20
    assert all(zs.LABEL_SLOT in t for t in shipped.templates)
    assert set(shipped.default_ensemble) <= set(shipped.templates)
    assert zs.LABEL_SLOT in shipped.digits_template


# -- the similarity matrix ---------------------------------------------------------------


def test_similarity_matrix_softmaxes_and_loss_match_open_clip(tiny_clip, photos):
    captions = ["a photo of a cat", "a photo of an astronaut", "a photo of a cup of coffee"]
    image_vectors = zs.encode_images(tiny_clip, photos)
    caption_vectors = zs.encode_prompts(tiny_clip, captions)
    scale = zs.logit_scale(tiny_clip)

    matrix = zs.similarity_matrix(image_vectors, ["a", "b", "c"], caption_vectors, captions, scale)

    np.testing.assert_allclose(matrix.image_to_text.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(matrix.text_to_image.sum(axis=0), 1.0, atol=1e-6)
    expected_loss = ClipLoss()(torch.from_numpy(image_vectors), torch.from_numpy(caption_vectors), torch.tensor(scale))
    assert matrix.contrastive_loss == pytest.approx(float(expected_loss), rel=1e-5)


def test_similarity_matrix_without_a_square_has_no_loss():
    matrix = zs.similarity_matrix(np.eye(2, 4), ["a", "b"], np.eye(3, 4), ["x", "y", "z"], 100.0)
    assert matrix.cosine.shape == (2, 3) and matrix.contrastive_loss is None


def test_perfect_pairs_have_near_zero_loss():
    vectors = np.eye(4, 8, dtype=np.float32)
    matrix = zs.similarity_matrix(vectors, list("abcd"), vectors, list("wxyz"), 100.0)
    assert matrix.contrastive_loss == pytest.approx(0.0, abs=1e-6)


# -- linear probe ------------------------------------------------------------------------


def separable_features(classes=5, per_class=36, train_per_class=16, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 3
    targets = np.repeat(np.arange(classes), per_class)
    features = centres[targets] + rng.normal(scale=0.3, size=(len(targets), dim))
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    is_test = np.tile(np.r_[np.zeros(train_per_class, bool), np.ones(per_class - train_per_class, bool)], classes)
    return features.astype(np.float32), targets, is_test, centres


def test_linear_probe_is_near_perfect_on_separable_features():
    features, targets, is_test, _ = separable_features()
    shots, accuracy = zs.linear_probe(features, targets, is_test)
    assert shots == zs.PROBE_SHOTS
    assert accuracy.shape == (zs.PROBE_REPEATS, len(zs.PROBE_SHOTS))
    assert accuracy[:, -1].mean() >= 0.98
    assert accuracy.min() >= 0.9


def test_probe_against_zero_shot_scores_zero_shot_by_nearest_label_vector():
    features, targets, is_test, centres = separable_features()
    unit_centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    data = zs.LabelledImages((), targets, is_test, tuple("abcde"), "synthetic")
    good = zs.LabelEmbeddings(tuple("abcde"), ("{}",), unit_centres.astype(np.float32))
    shuffled = zs.LabelEmbeddings(tuple("abcde"), ("{}",), np.roll(unit_centres, 1, axis=0).astype(np.float32))

    assert zs.probe_against_zero_shot(features, data, good).zero_shot_accuracy == pytest.approx(1.0)
    result = zs.probe_against_zero_shot(features, data, shuffled)
    assert result.zero_shot_accuracy == pytest.approx(0.0)
    assert result.chance == pytest.approx(0.2) and result.n_test == int(is_test.sum())
    assert result.shots_to_beat_zero_shot() == 1


def test_probe_uses_only_the_shots_the_pool_allows():
    features, targets, is_test, _ = separable_features(per_class=10, train_per_class=5)
    shots, accuracy = zs.linear_probe(features, targets, is_test)
    assert shots == (1, 2, 4) and accuracy.shape[1] == 3


def test_digits_dataset_is_balanced_and_dark_on_white():
    data = zs.digits_dataset()
    assert data.class_names == tuple("0123456789")
    assert len(data.images) == 10 * (16 + zs.DIGITS_TEST_PER_CLASS)
    for digit in range(10):
        mine = data.targets == digit
        assert (mine & ~data.is_test).sum() == 16 and (mine & data.is_test).sum() == zs.DIGITS_TEST_PER_CLASS
    pixels = np.asarray(data.images[0])
    assert data.images[0].mode == "RGB" and pixels.shape == (8, 8, 3)
    assert np.median(pixels) > 128  # mostly white paper


def test_labelled_uploads_take_classes_from_file_names():
    images = [Image.new("RGB", (4, 4))] * 5
    data = zs.labelled_from_names(images, ["cat_1.jpg", "cat-2.png", "Dog1.jpg", "dog_2.jpg", "dog 3.webp"])
    assert data.class_names == ("cat", "dog")
    assert list(data.targets) == [0, 0, 1, 1, 1]
    assert data.is_test.sum() == 2  # one of the 2 cats, one of the 3 dogs


def test_labelled_uploads_need_two_classes_of_two():
    with pytest.raises(ValueError, match="at least 2 classes"):
        zs.labelled_from_names([Image.new("RGB", (4, 4))] * 3, ["cat_1.jpg", "cat_2.jpg", "dog_1.jpg"])
