"""The translator's losses against values computed by hand on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from blur2blur.losses import (
    PerceptualLoss,
    blur_profile_loss,
    direction_keep_loss,
    discriminator_loss,
    generator_adv_loss,
    gradient_penalty,
    lowpass_content_loss,
    multiscale_perceptual_loss,
)


def sp(x: float) -> float:
    return math.log1p(math.exp(x))


def test_discriminator_losses_by_hand():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    log = (sp(-2) + sp(1)) / 2 + (sp(0.5) + sp(-3)) / 2
    assert discriminator_loss(real, fake, "log").item() == pytest.approx(log, rel=1e-6)
    hinge = (0 + 2) / 2 + (1.5 + 0) / 2
    assert discriminator_loss(real, fake, "hinge").item() == pytest.approx(hinge)
    lsgan = (1 + 4) / 2 + (0.25 + 9) / 2
    assert discriminator_loss(real, fake, "lsgan").item() == pytest.approx(lsgan)


def test_log_loss_is_the_papers_equation_3():
    # -[log D(k) + log(1 - D(G(y)))] with D = sigmoid(logit)
    real, fake = torch.tensor([0.3]), torch.tensor([-0.7])
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    expected = -(torch.log(d_real) + torch.log(1 - d_fake))
    assert discriminator_loss(real, fake, "log").item() == pytest.approx(expected.item(), rel=1e-6)
    assert generator_adv_loss(fake, "log").item() == pytest.approx(-torch.log(d_fake).item(), rel=1e-6)


def test_generator_losses_and_scales_are_averaged():
    f1, f2 = torch.tensor([1.0, 3.0]), torch.tensor([[-2.0]])
    assert generator_adv_loss([f1, f2], "hinge").item() == pytest.approx((-2.0 + 2.0) / 2)
    assert generator_adv_loss([f1, f2], "lsgan").item() == pytest.approx(((0 + 4) / 2 + 9) / 2)
    with pytest.raises(ValueError, match="unknown adversarial"):
        generator_adv_loss(f1, "wgan")
    with pytest.raises(ValueError):
        discriminator_loss([f1, f2], [f1], "log")  # scales must pair up


def test_gradient_penalty_of_a_linear_critic():
    # critic(x) = sum(w * x): its gradient is w everywhere, so the penalty is (||w|| - 1)^2.
    w = torch.tensor([0.5, -2.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    a, b = torch.rand(4, 3, 2, 2), torch.rand(4, 3, 2, 2)
    gp = gradient_penalty(lambda x: (w * x).flatten(1).sum(1), a, b)
    assert gp.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)


def test_gradient_penalty_of_a_quadratic_critic_matches_autograd_by_hand():
    # critic(x) = 0.5 * sum(x^2) per sample: gradient = y_hat itself.
    a, b = torch.rand(3, 2, 4, 4), torch.rand(3, 2, 4, 4)
    eps = torch.tensor([0.0, 0.5, 1.0])
    gp = gradient_penalty(lambda x: 0.5 * (x ** 2).flatten(1).sum(1), a, b, eps=eps)
    mixed = eps.view(-1, 1, 1, 1) * a + (1 - eps.view(-1, 1, 1, 1)) * b
    expected = ((mixed.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert gp.item() == pytest.approx(expected.item(), rel=1e-5)


def test_gradient_penalty_over_scales_and_backprop_into_the_critic():
    conv = torch.nn.Conv2d(3, 1, 3, padding=1)
    a = [torch.rand(2, 3, 8, 8), torch.rand(2, 3, 4, 4)]
    b = [torch.rand(2, 3, 8, 8), torch.rand(2, 3, 4, 4)]
    gp = gradient_penalty(lambda xs: [conv(x) for x in xs], a, b, generator=torch.Generator().manual_seed(0))
    gp.backward()
    assert conv.weight.grad is not None and torch.isfinite(conv.weight.grad).all()
    # Batch size > 1 works (the reference implementation crashes here).
    assert gp.ndim == 0 and gp.item() >= 0


def _toy_features(x):
    return {"id": x, "pooled": torch.nn.functional.avg_pool2d(x, 2)}


def test_perceptual_loss_reductions_by_hand():
    y = [torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 4, 4)]
    g = [torch.ones(1, 1, 2, 2), torch.full((1, 1, 4, 4), 2.0)]
    # paper: per scale (sum |d| over both maps) / (elements of both maps); mean over scales.
    s1 = (4 * 1 + 1 * 1) / (4 + 1)
    s2 = (16 * 2 + 4 * 2) / (16 + 4)
    paper = multiscale_perceptual_loss(_toy_features, g, y, reduction="paper")
    assert paper.item() == pytest.approx((s1 + s2) / 2)
    ref = multiscale_perceptual_loss(_toy_features, g, y, reduction="reference", layer_weights=[0.5, 1.0])
    assert ref.item() == pytest.approx((0.5 * 1 + 1.0 * 1) + (0.5 * 2 + 1.0 * 2))


@settings(max_examples=20, deadline=None)
@given(st.floats(0.0, 1.0), st.integers(1, 3))
def test_perceptual_loss_is_zero_for_identical_images_and_positive_otherwise(value, scales):
    imgs = [torch.full((1, 3, 4 * 2 ** i, 4 * 2 ** i), value) for i in range(scales)]
    assert multiscale_perceptual_loss(_toy_features, imgs, imgs).item() == 0.0
    moved = [x + 0.1 for x in imgs]
    assert multiscale_perceptual_loss(_toy_features, moved, imgs).item() == pytest.approx(0.1, rel=1e-5)


def test_perceptual_module_variants_build_and_train_only_the_input(caplog):
    for variant in ("paper", "reference"):
        loss_fn = PerceptualLoss(variant, weights="random")
        assert "RANDOM" in caplog.text  # never silently random
        assert not any(p.requires_grad for p in loss_fn.parameters())
        out = [torch.rand(1, 3, 32, 32, requires_grad=True), torch.rand(1, 3, 16, 16, requires_grad=True)]
        loss = loss_fn(out, [torch.rand(1, 3, 32, 32), torch.rand(1, 3, 16, 16)])
        loss.backward()
        assert loss.item() > 0 and out[0].grad is not None
        loss_fn.train()
        assert not loss_fn.features.training
    with pytest.raises(ValueError, match="variant"):
        PerceptualLoss("lpips", weights="random")


def test_psnr_loss_and_multiscale_content_loss_by_hand():
    from blur2blur.losses import multiscale_content_loss, psnr_loss

    pred, tgt = torch.zeros(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)
    pred[0] += 0.1  # mse 0.01 for image 0, 0 for image 1
    expected = (10 * math.log10(0.01 + 1e-8) + 10 * math.log10(1e-8)) / 2
    assert psnr_loss(pred, tgt).item() == pytest.approx(expected, rel=1e-5)
    a, b = torch.full((1, 1, 4, 4), 0.5), torch.zeros(1, 1, 4, 4)
    # L1 = 0.5; rfft2 of a constant: only the DC term, 16 * 0.5 = 8, over 4*3*2 real/imag values
    fft_l1 = 8 / (4 * 3 * 2)
    assert multiscale_content_loss([a], [b]).item() == pytest.approx(0.5 + 0.1 * fft_l1, rel=1e-5)
    assert multiscale_content_loss([a, a], [b, b], fft_weight=0).item() == pytest.approx(1.0)


def test_pixel_reconstruction_is_multiscale_l1_by_hand():
    # The offline variant: no feature network, the paper's per-element normalisation and scale mean.
    outs = [torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 4, 4)]
    tgts = [torch.full((1, 3, 2, 2), 0.5), torch.full((1, 3, 4, 4), 0.1)]
    loss = PerceptualLoss("pixel")(outs, tgts)
    assert loss.item() == pytest.approx((0.5 + 0.1) / 2)
    assert not list(PerceptualLoss("pixel").parameters())
    with pytest.raises(ValueError, match="pixel"):
        PerceptualLoss("pixels")


def _texture(seed: int = 0, size: int = 64) -> torch.Tensor:
    """A photo-like test image: smooth colour layout plus fine texture, (1, 3, size, size) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4, generator=g), size=size, mode="bilinear")
    return (0.7 * coarse + 0.3 * torch.rand(1, 3, size, size, generator=g)).clamp(0, 1)


def _pyramid(x: torch.Tensor) -> list[torch.Tensor]:
    from blur2blur.train.translator import input_scales

    return input_scales(x)


def test_lowpass_content_by_hand_on_a_constant_offset():
    # A constant difference d survives any normalised low-pass unchanged: sqrt(d^2 + eps^2) - eps per scale.
    outs = [torch.full((1, 3, s, s), 0.3) for s in (8, 16, 32)]
    tgts = [torch.full((1, 3, s, s), 0.2) for s in (8, 16, 32)]
    expected = math.sqrt(0.1 ** 2 + 0.01 ** 2) - 0.01
    assert lowpass_content_loss(outs, tgts, eps=0.01).item() == pytest.approx(expected, rel=1e-5)
    assert PerceptualLoss("lowpass", sigma=2.0, eps=0.01)(outs, tgts).item() == pytest.approx(expected, rel=1e-5)
    assert lowpass_content_loss(tgts, tgts).item() == 0.0


def test_lowpass_content_is_a_gaussian_low_pass_with_sigma_halved_per_coarser_scale():
    from kornia.filters import gaussian_blur2d

    x, y = _pyramid(_texture(1)), _pyramid(_texture(2))
    eps = 0.05
    expected = []
    for k, (a, b) in enumerate(zip(x, y)):
        s = 4.0 / 2 ** (2 - k)
        r = math.ceil(3 * s)
        d = gaussian_blur2d(a - b, (2 * r + 1, 2 * r + 1), (s, s), border_type="reflect")
        expected.append((torch.sqrt(d * d + eps * eps) - eps).mean())
    assert lowpass_content_loss(x, y, sigma=4.0, eps=eps).item() == pytest.approx(
        torch.stack(expected).mean().item(), rel=1e-6)


def test_lowpass_content_charges_the_high_band_at_its_own_rate():
    # A pixel checkerboard is all high band: the low band alone does not see it; with high_weight w it
    # costs w times the Charbonnier penalty of the pattern itself.
    checker = (torch.arange(32).view(1, -1) + torch.arange(32).view(-1, 1)) % 2 * 0.2 - 0.1
    tgts = [torch.full((1, 3, s, s), 0.5) for s in (8, 16, 32)]
    outs = [t + checker[:t.shape[-2], :t.shape[-1]] for t in tgts]
    assert lowpass_content_loss(outs, tgts, sigma=4.0).item() < 1e-3
    charb = math.sqrt(0.1 ** 2 + 0.002 ** 2) - 0.002
    assert lowpass_content_loss(outs, tgts, sigma=4.0, high_weight=0.2).item() == pytest.approx(0.2 * charb, rel=0.02)


def test_lowpass_content_lets_blur_change_but_not_colour_or_layout():
    # A motion blur changes the image about as much in L1 as a small colour cast; the content term
    # must charge the blur far less than the colour cast and a shift of the layout.
    from blur2blur.data.synthetic import blur_with_kernels

    sharp = _texture(3, 96)
    kernel = torch.zeros(1, 9, 9)
    kernel[0, 4, :] = 1 / 9  # 9-px horizontal motion
    blurred = blur_with_kernels(sharp, kernel)
    l1_blur = (blurred - sharp).abs().mean().item()
    cast = (sharp + torch.tensor([l1_blur, 0.0, -l1_blur]).view(1, 3, 1, 1) * 1.5).clamp(0, 1)
    shifted = torch.roll(sharp, shifts=(12, 12), dims=(2, 3))

    def content(x):
        return lowpass_content_loss(_pyramid(x), _pyramid(sharp)).item()

    assert content(blurred) < 0.25 * content(cast)
    assert content(blurred) < 0.25 * content(shifted)
    pixel = PerceptualLoss("pixel")
    assert pixel(_pyramid(blurred), _pyramid(sharp)).item() > 0.5 * pixel(_pyramid(cast), _pyramid(sharp)).item()


def test_lowpass_content_is_smooth_at_zero_where_l1_is_not():
    # Near the identity the content term's gradient vanishes with the difference (so the start of
    # training does not pin G there); pixel L1's keeps its size whatever the difference.
    y = _pyramid(_texture(4))
    sizes = {}
    for delta in (1e-2, 1e-4):
        outs = [(t + delta * torch.randn(t.shape, generator=torch.Generator().manual_seed(0))).requires_grad_(True)
                for t in y]
        for name, fn in (("lowpass", lambda o: lowpass_content_loss(o, y)),
                         ("pixel", lambda o: PerceptualLoss("pixel")(o, y))):
            grads = torch.autograd.grad(fn(outs), outs)
            sizes[name, delta] = sum(g.abs().sum() for g in grads).item()
    assert sizes["lowpass", 1e-4] < 0.02 * sizes["lowpass", 1e-2]
    assert sizes["pixel", 1e-4] == pytest.approx(sizes["pixel", 1e-2], rel=0.05)


def test_lowpass_content_rejects_bad_settings():
    x = _pyramid(_texture(5))
    with pytest.raises(ValueError, match="scales"):
        lowpass_content_loss(x[:2], x)
    with pytest.raises(ValueError, match="eps"):
        lowpass_content_loss(x, x, eps=0.0)
    with pytest.raises(ValueError, match="lowpass"):
        PerceptualLoss("low-pass")


def test_direction_keep_by_hand_on_a_contrast_reduction():
    # Scaling the image about its mean by a scales every direction's derivative energy by a^2: the best
    # direction keeps a^2, so the loss is 1 - a^2 (eps far below the texture's energy). The identity costs 0.
    y = _texture(4, 64)
    a = 0.8
    out = y.mean() + a * (y - y.mean())
    assert direction_keep_loss(out, y, eps=1e-12).item() == pytest.approx(1 - a * a, rel=1e-4)
    assert direction_keep_loss(y, y).item() == 0.0
    brighter = (y * 1.2).clamp(max=1)  # more detail everywhere: nothing taken away
    assert direction_keep_loss(brighter, y).item() == 0.0


def test_direction_keep_charges_an_isotropic_blur_more_than_the_translation_along_the_path():
    # Photos taken with a strobed vertical blur (three sharp copies); the translation into the
    # continuous 9-px smear along the same path costs far less than a 0.8-px Gaussian blur of them,
    # the smoothing that a translator takes when only told to look blurrier.
    from kornia.filters import gaussian_blur2d

    from blur2blur import assets
    from blur2blur.data.images import read_image
    from blur2blur.data.synthetic import blur_with_kernels

    smear, strobe = torch.zeros(1, 9, 9), torch.zeros(1, 9, 9)
    smear[0, :, 4] = 1 / 9
    strobe[0, [0, 4, 8], 4] = 1 / 3
    translated, smoothed = [], []
    for photo in assets.demo_photos()[:4]:
        sharp = read_image(photo)[0][None, :, :128, :128]
        y = blur_with_kernels(sharp, strobe)
        translated.append(direction_keep_loss(blur_with_kernels(sharp, smear), y).item())
        smoothed.append(direction_keep_loss(gaussian_blur2d(y, (7, 7), (0.8, 0.8)), y).item())
    assert sum(translated) < 0.5 * sum(smoothed), (translated, smoothed)
    # the charge falls on G's output; the target is detached
    out = y.clone().requires_grad_(True)
    target = y.clone().requires_grad_(True)
    direction_keep_loss(out * 0.5, target).backward()
    assert out.grad.abs().sum() > 0 and target.grad is None


def test_blur_profile_prefers_the_known_blur_to_the_camera_blur_and_to_smoothing():
    # Unpaired, as in training: K is a continuous 9-px vertical smear of some photos, B a strobed blur (three
    # sharp copies, same path) of others. Translating B into the smear costs less than leaving it or smoothing it.
    from kornia.filters import gaussian_blur2d

    from blur2blur import assets
    from blur2blur.data.images import read_image
    from blur2blur.data.synthetic import blur_with_kernels

    smear, strobe = torch.zeros(1, 9, 9), torch.zeros(1, 9, 9)
    smear[0, :, 4] = 1 / 9
    strobe[0, [0, 4, 8], 4] = 1 / 3
    # Scenes have their own correlation, so a set's mean needs a dozen 256-px crops to settle (measured: the
    # translation costs 0.035 with 8 per set, 0.018 with 12; leaving or smoothing 0.08-0.12 with either).
    n = 12
    photos = torch.cat([read_image(p)[0][None, :, :256, :256] for p in assets.demo_photos()[:2 * n]])
    known = blur_with_kernels(photos[:n], smear.expand(n, 9, 9))
    sharp = photos[n:]
    y = blur_with_kernels(sharp, strobe.expand(n, 9, 9))
    translated = blur_profile_loss(blur_with_kernels(sharp, smear.expand(n, 9, 9)), known).item()
    left = blur_profile_loss(y, known).item()
    smoothed = blur_profile_loss(gaussian_blur2d(y, (7, 7), (0.8, 0.8)), known).item()
    assert translated < 0.5 * min(left, smoothed), (translated, left, smoothed)
    assert blur_profile_loss(known, known).item() == 0.0
    out, target = y.clone().requires_grad_(True), known.clone().requires_grad_(True)
    blur_profile_loss(out, target).backward()
    assert out.grad.abs().sum() > 0 and target.grad is None


def test_direction_keep_refuses_mismatched_or_tiny_images():
    with pytest.raises(ValueError, match="differ in shape"):
        direction_keep_loss(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 33))
    with pytest.raises(ValueError, match="too small"):
        direction_keep_loss(torch.rand(1, 3, 16, 64), torch.rand(1, 3, 16, 64))
