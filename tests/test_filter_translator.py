"""The per-pixel filter op and the filter translator: references, properties, identity start, loading."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from blur2blur.models import create_model, load_any, save_checkpoint
from blur2blur.models.filter_translator import (LENGTH_REFERENCE, blur_direction, blur_length, direction_features,
                                                  infer_filter_config, steer_filters, whole_blur_direction)
from blur2blur.models.mimo_unet import infer_mimo_config
from blur2blur.ops import convolve_per_image, filter_per_pixel


def _perturbed(kernel_size: int = 5, seed: int = 0):
    torch.manual_seed(seed)
    g = create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=kernel_size).init_identity()
    with torch.no_grad():
        for head in (g.ConvsOut[0], g.ConvsOut[1], g.feat_extract[5]):
            head.main[0].weight.normal_(0, 0.05)
            head.main[0].bias.normal_(0, 0.05)
    return g.eval()


def _fitted_loss(g, x: torch.Tensor, target: torch.Tensor, steps: int = 40) -> float:
    """MSE of G's finest output against `target` after `steps` supervised Adam steps."""
    opt = torch.optim.Adam(g.parameters(), lr=2e-3)
    for _ in range(steps):
        loss = F.mse_loss(g(x)[-1], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def test_uniform_filter_is_a_correlation():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 12, 10)
    kernels = torch.randn(2, 5, 5)
    weights = kernels.reshape(2, 25, 1, 1).expand(2, 25, 12, 10)
    # convolve_per_image convolves (flips the kernel); the per-pixel filter correlates.
    torch.testing.assert_close(filter_per_pixel(x, weights), convolve_per_image(x, kernels.flip(-1, -2)),
                               atol=1e-5, rtol=1e-5)


def test_each_pixel_gets_its_own_filter():
    x = torch.rand(1, 2, 6, 6)
    weights = torch.zeros(1, 9, 6, 6)
    weights[0, 4] = 1.0                     # unit everywhere ...
    weights[0, 4, 2, 3], weights[0, 5, 2, 3] = 0.0, 1.0   # ... but pixel (2, 3) takes its right neighbour
    out = filter_per_pixel(x, weights)
    expected = x.clone()
    expected[0, :, 2, 3] = x[0, :, 2, 4]
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("weights_shape", [(1, 8, 6, 6), (1, 4, 6, 6), (2, 9, 6, 6), (1, 9, 5, 6)])
def test_bad_filter_shapes_are_refused(weights_shape):
    with pytest.raises(ValueError, match=r"\(B, K\*K, H, W\)"):
        filter_per_pixel(torch.rand(1, 3, 6, 6), torch.rand(weights_shape))


def test_starts_as_the_identity_exactly():
    g = create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=5).init_identity()
    x = torch.rand(2, 3, 16, 24)
    with torch.no_grad():
        for out, expected in zip(g(x), [x[..., ::4, ::4], x[..., ::2, ::2], x], strict=True):
            torch.testing.assert_close(out, expected, atol=0, rtol=0)


def test_filters_keep_flat_regions_and_grey_grey():
    """Taps sum to one and are shared by the channels: whatever G learned, a flat image stays the same
    flat image and a grey image stays grey (no colour or brightness shift is possible)."""
    g = _perturbed()
    flat = torch.tensor([0.2, 0.5, 0.7]).reshape(1, 3, 1, 1).expand(1, 3, 16, 16)
    grey = torch.rand(1, 1, 16, 16).expand(1, 3, 16, 16)
    with torch.no_grad():
        for out in g(flat):
            torch.testing.assert_close(out, flat[..., :out.shape[-2], :out.shape[-1]], atol=1e-5, rtol=0)
        outs = g(grey)
    assert (outs[-1] - grey).abs().max() > 1e-3            # the perturbed G does change the image ...
    for out in outs:
        torch.testing.assert_close(out[:, 0], out[:, 1], atol=1e-6, rtol=0)   # ... but not its colour
        torch.testing.assert_close(out[:, 0], out[:, 2], atol=1e-6, rtol=0)


def test_round_trip_and_recognised_by_its_shapes(tmp_path):
    g = _perturbed(kernel_size=3)
    path = save_checkpoint(g, tmp_path / "g.safetensors")
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(load_any(path)(x)[-1], g(x)[-1])
    sd = g.state_dict()
    assert infer_filter_config(sd) == {"num_res": 1, "base_channel": 8, "kernel_size": 3}
    assert infer_mimo_config(sd) is None       # not taken for a MIMO-UNet whose heads emit pixels
    assert infer_filter_config(create_model("b2b_translator", num_res=1, base_channel=8).state_dict()) is None


def test_even_kernel_size_is_refused():
    with pytest.raises(ValueError, match="odd"):
        create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=4)


def test_learns_a_blur_it_is_shown():
    """A few dozen supervised steps teach it a horizontal box blur far better than the identity does."""
    torch.manual_seed(0)
    g = create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=5).init_identity()
    box = torch.zeros(1, 1, 1, 5)
    box[..., 1:4] = 1 / 3
    x = torch.rand(4, 3, 32, 32)
    target = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="reflect").reshape(-1, 1, 32, 36), box).reshape(4, 3, 32, 32)
    assert _fitted_loss(g, x, target) < 0.2 * F.mse_loss(x, target).item()


def test_smoothing_makes_the_filters_vary_slowly():
    """Averaged over a window as large as the image, every pixel gets the same filter: the output then
    commutes with a shift of the image (away from the borders); per-pixel filters do not."""
    torch.manual_seed(0)
    head, x = torch.randn(1, 9, 16, 16), torch.rand(1, 3, 16, 18)
    for smooth, uniform in ((33, True), (1, False)):
        g = create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=3, smooth=smooth)
        out_then_shift = g.emit(head, x[..., :16])[..., 2:14, 3:14]
        shift_then_out = g.emit(head, x[..., 1:17])[..., 2:14, 2:13]
        assert torch.allclose(out_then_shift, shift_then_out, atol=1e-5) == uniform
    with pytest.raises(ValueError, match="smooth must be odd"):
        create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=3, smooth=4)


def test_nonnegative_filters_stay_within_the_input_range():
    """Clipped taps average: whatever G learned, its output never leaves the input's range (no ringing,
    no halos). The same weights with signed taps do leave it, so the property is the clipping's."""
    torch.manual_seed(0)
    head, x = 3 * torch.randn(1, 25, 16, 16), torch.rand(1, 3, 16, 16)
    signed = create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=5)
    clipped = create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=5, nonnegative=True)
    out = clipped.emit(head, x)
    assert out.min() >= x.min() - 1e-6 and out.max() <= x.max() + 1e-6
    out_signed = signed.emit(head, x)
    assert out_signed.min() < x.min() - 0.1 and out_signed.max() > x.max() + 0.1


def test_nonnegative_filters_start_as_the_identity_and_learn_a_blur():
    """At the identity every tap but the centre is exactly zero: clipping must still let G learn to blur."""
    torch.manual_seed(0)
    g = create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=5,
                     nonnegative=True).init_identity()
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(g(x)[-1], x, atol=0, rtol=0)
    target = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
    assert _fitted_loss(g, x, target) < 0.2 * F.mse_loss(x, target).item()


def test_nonnegative_heads_stay_bounded_while_learning():
    """The clip passes its gradient straight through, so a clipped tap the loss wants lower is pushed down
    without end: unbounded, the full-resolution head grew past 1e3 within 200 steps here (and to 1e17-3e30
    on the ladder's runs). Bounded by tanh it stays within a few units, and the blur is still learned."""
    torch.manual_seed(0)
    g = create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=5,
                     nonnegative=True).init_identity()
    heads = _spy_on(g, "emit", lambda g, head, x: head.detach().abs().max().item())
    line = torch.zeros(3, 1, 5, 5)
    line[:, 0, 2, :] = 0.2                                           # a 5-px horizontal smear
    opt = torch.optim.Adam(g.parameters(), lr=1e-3)
    for _ in range(200):
        x = torch.rand(4, 3, 32, 32)
        target = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), line, groups=3)
        loss = (g(x)[-1] - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.005                                       # the identity's: 0.21
    assert heads[-1] < 30


def _noise_blurred_along(angle_deg: float, positions: list[float], size: int, seed: int) -> torch.Tensor:
    """White noise (1, 3, size, size) averaged over copies of itself at `positions` px along `angle_deg`
    (x right, y down; each offset rounded to whole pixels)."""
    torch.manual_seed(seed)
    x = torch.rand(1, 1, size, size)
    r = int(max(abs(t) for t in positions)) + 1
    kernel = torch.zeros(1, 2 * r + 1, 2 * r + 1)
    a = math.radians(angle_deg)
    for t in positions:
        kernel[0, r + round(t * math.sin(a)), r + round(t * math.cos(a))] += 1
    return convolve_per_image(x, kernel / kernel.sum()).expand(1, 3, size, size)


def _streaked(angle_deg: float, size: int = 96, length: int = 9, seed: int = 0) -> torch.Tensor:
    """White noise (1, 3, size, size) smeared along `angle_deg` (x right, y down) over `length` px."""
    return _noise_blurred_along(angle_deg, torch.linspace(-length / 2, length / 2, 4 * length).tolist(), size, seed)


@pytest.mark.parametrize("angle", [0, 30, 45, 90, 135, 165])
def test_direction_features_point_along_a_smear(angle):
    """The strongest direction, locally and over the whole image, is the smear's (to the nearest of 12)."""
    f = direction_features(_streaked(angle), angles=12)[0]
    assert f.shape == (24, 96, 96)
    local, whole = f[:12], f[12:]
    assert int(whole[:, 0, 0].argmax()) == round(angle / 15) % 12
    assert (local.argmax(0) == round(angle / 15) % 12).float().mean() > 0.9
    torch.testing.assert_close(whole, whole[:, :1, :1].expand_as(whole))
    torch.testing.assert_close(f.mean(0), torch.zeros(96, 96), atol=1e-5, rtol=0)


def test_direction_features_of_unblurred_noise_are_flat():
    """White noise has no direction: its features are a small fraction of a smear's (sampling noise only)."""
    torch.manual_seed(1)
    flat = direction_features(torch.rand(1, 3, 96, 96))[0, 12:, 0, 0]
    assert flat.abs().max() < 0.2 * direction_features(_streaked(60))[0, 12:, 0, 0].abs().max()
    with pytest.raises(ValueError, match="angles"):
        direction_features(torch.rand(1, 3, 16, 16), angles=0)


def test_direction_translator_starts_as_identity_and_round_trips(tmp_path):
    g = create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=5, nonnegative=True,
                     direction_angles=4).init_identity()
    assert g.feat_extract[0].main[0].weight.shape[1] == 3 + 8
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(g(x)[-1], x, atol=0, rtol=0)
    sd = g.state_dict()
    assert infer_filter_config(sd) == {"num_res": 1, "base_channel": 8, "kernel_size": 5, "direction_angles": 4}
    assert infer_mimo_config(sd) is None
    with torch.no_grad():
        g.feat_extract[5].main[0].weight.normal_(0, 0.05)
    save_checkpoint(g, tmp_path / "g.safetensors")
    loaded = load_any(tmp_path / "g.safetensors")
    assert loaded.direction_angles == 4 and loaded.nonnegative
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x)[-1], g.eval()(x)[-1])
    with pytest.raises(ValueError, match="direction_angles"):
        create_model("b2b_filter_translator", num_res=1, base_channel=8, direction_angles=-1)


def test_steer_filters_turns_a_line():
    """A line along the blur frame's x axis lands along the requested direction: exactly at 0 and 90 degrees,
    and with its long axis at 45 degrees (second moments) in between."""
    line = torch.zeros(1, 25, 1, 1)
    line[0, 10:15] = 0.2                                   # the middle row of a 5 x 5 filter
    def turned(deg):
        t = math.radians(deg)
        return steer_filters(line, torch.tensor([math.cos(t), math.sin(t)]).view(1, 2, 1, 1))[0, :, 0, 0].view(5, 5)
    torch.testing.assert_close(turned(0), line.view(5, 5))
    torch.testing.assert_close(turned(90), line.view(5, 5).T)
    k = turned(45)
    v, u = torch.meshgrid(torch.arange(-2.0, 3.0), torch.arange(-2.0, 3.0), indexing="ij")
    angle = 0.5 * math.atan2(2 * (k * u * v).sum().item(), (k * (u * u - v * v)).sum().item())
    assert abs(math.degrees(angle) - 45) < 1
    assert k[0, 4] == 0 and k[4, 0] == 0 and k[1, 1] > 0 and k[3, 3] > 0   # along the diagonal, nothing across


@pytest.mark.parametrize("angle", [0, 20, 60, 100, 150])
def test_blur_direction_of_a_smear(angle):
    d = blur_direction(direction_features(_streaked(angle)))[0]
    assert d.shape == (2, 96, 96)
    torch.testing.assert_close(d.norm(dim=0), torch.ones(96, 96))
    found = torch.atan2(d[1], d[0])
    error = torch.remainder(found - math.radians(angle) + math.pi / 2, math.pi) - math.pi / 2
    assert error.abs().median() < math.radians(8)


def test_steered_translator_starts_as_identity_and_round_trips(tmp_path):
    g = create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=5, nonnegative=True,
                     direction_angles=6, steer=True).init_identity()
    x = _streaked(30, size=32)
    with torch.no_grad():
        torch.testing.assert_close(g(x)[-1], x, atol=1e-6, rtol=0)
        for head in (g.ConvsOut[0], g.ConvsOut[1], g.feat_extract[5]):
            head.main[0].bias.normal_(0, 0.5)
    save_checkpoint(g, tmp_path / "g.safetensors")
    loaded = load_any(tmp_path / "g.safetensors")
    assert loaded.steer and loaded.direction_angles == 6
    with torch.no_grad():
        out = loaded.eval()(x)[-1]
        torch.testing.assert_close(out, g.eval()(x)[-1])
        assert out.min() >= x.min() - 1e-6 and out.max() <= x.max() + 1e-6 and (out - x).abs().max() > 1e-3
    with pytest.raises(ValueError, match="steer needs direction_angles"):
        create_model("b2b_filter_translator", num_res=1, base_channel=8, steer=True)


@pytest.mark.parametrize("degrees", [0, 30, 45, 110])
def test_steered_filter_turns_only_the_profile_and_sums_to_one(degrees):
    """A short profile (a quarter each one tap before and after the centre along the blur) turned to any
    angle: the filter sums to one and stays within the profile's reach (bilinear turning spreads it by up to
    a pixel), so the outer ring of a 7 x 7 filter stays empty. Spreading the sum that turning changes over
    all K*K taps (as the first steered translator did) put a faint box over the whole filter instead."""
    g = create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=7, direction_angles=6,
                     steer=True).init_identity()
    head = torch.zeros(1, 49, 11, 11)
    head[0, 23] = head[0, 25] = 0.25                       # the middle row's taps left and right of the centre
    t = math.radians(degrees)
    g._direction = torch.tensor([math.cos(t), math.sin(t)]).view(1, 2, 1, 1).expand(1, 2, 11, 11)
    point = torch.zeros(1, 3, 11, 11)
    point[..., 5, 5] = 1.0
    with torch.no_grad():
        spread = g.emit(head, point)[0, 0]                # the filter, mirrored, around the point
    torch.testing.assert_close(spread.sum(), torch.tensor(1.0))
    assert spread[5, 5] == pytest.approx(0.5, abs=0.05)
    near = torch.zeros(11, 11, dtype=torch.bool)
    near[3:8, 3:8] = True
    assert spread[~near].abs().max() < 1e-7
    v, u = torch.meshgrid(torch.arange(-5.0, 6.0), torch.arange(-5.0, 6.0), indexing="ij")
    found = 0.5 * math.atan2(2 * (spread * u * v).sum().item(), (spread * (u * u - v * v)).sum().item())
    error = (math.degrees(found) - degrees + 90) % 180 - 90
    assert abs(error) < 2 if degrees % 90 == 0 else abs(error) < 10


def _direction(degrees: float, size: int = 1) -> torch.Tensor:
    t = math.radians(degrees)
    return torch.tensor([math.cos(t), math.sin(t)]).view(1, 2, 1, 1).expand(1, 2, size, size)


@pytest.mark.parametrize("angle", [0, 45, 120])
def test_blur_length_grows_with_the_smear(angle):
    """Read along the smear's own direction, the length grows with the smear's (about half of it, as on the
    ladder's shots); across it, it reads shorter; unblurred noise reads the first offset."""
    lengths = [blur_length(_streaked(angle, size=128, length=n), _direction(angle, 128)).item() for n in (5, 9, 15)]
    assert lengths[0] < lengths[1] < lengths[2]
    assert 0.3 * 15 < lengths[2] < 0.7 * 15
    across = blur_length(_streaked(angle, size=128, length=15), _direction(angle + 90, 128)).item()
    assert across < 0.8 * lengths[2]
    torch.manual_seed(0)
    assert blur_length(torch.rand(1, 3, 128, 128), _direction(angle, 128)).item() == 2.0


@pytest.mark.parametrize("degrees", [0, 90, 30])
@pytest.mark.parametrize("s", [0.6, 1.8])
def test_stretch_scales_the_profile_along_the_blur_only(degrees, s):
    """A stretched filter keeps its sum (up to bilinear sampling and what falls beyond the filter's reach);
    its spread along the blur scales by the stretch, across it stays."""
    k = 11
    u = torch.arange(-5.0, 6.0)
    profile = torch.exp(-0.5 * (u[None, :] / 1.0) ** 2) * torch.exp(-0.5 * (u[:, None] / 0.8) ** 2)
    taps = (profile / profile.sum()).reshape(1, k * k, 1, 1)
    plain = steer_filters(taps, _direction(degrees))[0, :, 0, 0].view(k, k)
    stretched = steer_filters(taps, _direction(degrees), torch.tensor(s).view(1, 1, 1, 1))[0, :, 0, 0].view(k, k)
    # Bilinear sampling of a narrow profile misses its sum by up to 6% here (the translator gives the centre
    # tap the rest).
    torch.testing.assert_close(stretched.sum(), plain.sum(), atol=0.08, rtol=0)
    v, x = torch.meshgrid(u, u, indexing="ij")
    t = math.radians(degrees)
    along, across = x * math.cos(t) + v * math.sin(t), -x * math.sin(t) + v * math.cos(t)
    def spread(f, coordinate):
        return ((f * coordinate ** 2).sum() / f.sum()).sqrt().item()
    assert spread(stretched, along) / spread(plain, along) == pytest.approx(s, rel=0.15)
    assert spread(stretched, across) == pytest.approx(spread(plain, across), rel=0.15)


def _starts_as_identity_then_perturb(g, x: torch.Tensor) -> None:
    """G at its identity start returns `x`; then its heads get random biases, so its filters are not the unit."""
    with torch.no_grad():
        torch.testing.assert_close(g(x)[-1], x, atol=1e-6, rtol=0)
        for head in (g.ConvsOut[0], g.ConvsOut[1], g.feat_extract[5]):
            head.main[0].bias.normal_(0, 0.5)


def _spy_on(g, method: str, read) -> list:
    """After each call of G's `method`, append ``read(g, *args)``: e.g. what ``stem_input`` read from the input
    (which forward drops when it returns), or the head ``emit`` was given. Remove with ``del g.<method>``."""
    seen = []
    original = getattr(g, method)

    def spy(*args):
        out = original(*args)
        seen.append(read(g, *args))
        return out
    setattr(g, method, spy)
    return seen


def test_stretched_translator_reads_the_length_starts_as_identity_and_round_trips(tmp_path):
    g = create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=5, nonnegative=True,
                     direction_angles=6, steer=True, stretch=True).init_identity()
    short, long = _streaked(30, size=64, length=5), _streaked(30, size=64, length=15)
    _starts_as_identity_then_perturb(g, long)
    seen = _spy_on(g, "stem_input", lambda g, x: g._stretch.flatten().item() * LENGTH_REFERENCE)
    with torch.no_grad():
        g(short), g(long)
    assert seen[0] < seen[1] and g._stretch is None           # the length is read per forward, not kept
    del g.stem_input
    save_checkpoint(g, tmp_path / "g.safetensors")
    loaded = load_any(tmp_path / "g.safetensors")
    assert loaded.stretch and loaded.steer
    unstretched = load_any(tmp_path / "g.safetensors", stretch=False)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(long)[-1], g.eval()(long)[-1])
        assert (unstretched.eval()(long)[-1] - g(long)[-1]).abs().max() > 1e-3   # the stretch reaches the filters
    with pytest.raises(ValueError, match="stretch needs steer"):
        create_model("b2b_filter_translator", num_res=1, base_channel=8, direction_angles=6, stretch=True)


def _strobed(angle_deg: float, spacing: int = 6, size: int = 128, seed: int = 0) -> torch.Tensor:
    """White noise (1, 3, size, size) with two more copies of itself `spacing` px either side along `angle_deg`:
    the ladder's camera ghost, three sharp copies."""
    return _noise_blurred_along(angle_deg, [-spacing, 0, spacing], size, seed)


def _angle_error(direction: torch.Tensor, degrees: float) -> float:
    """Degrees between a unit vector (2,) and the line at `degrees` (modulo 180)."""
    found = math.degrees(math.atan2(direction[1].item(), direction[0].item()))
    return abs((found - degrees + 90) % 180 - 90)


@pytest.mark.parametrize("angle", [0, 37, 80, 142, 165])
def test_whole_blur_direction_reads_strobes_and_smears(angle):
    """Read from every offset, a strobe's direction is found at any angle, between the direction features'
    12 (where the per-pixel reading missed 37 and 80 degrees by 39 and 61 when this was written), and a
    smear's as well; the rounding of the copies' offsets to whole pixels allows up to 5 degrees."""
    for blurred in (_strobed(angle), _streaked(angle, size=128)):
        d = whole_blur_direction(blurred)
        assert d.shape == (1, 2, 1, 1)
        torch.testing.assert_close(d.norm(dim=1), torch.ones(1, 1, 1))
        assert _angle_error(d[0, :, 0, 0], angle) < 5


def test_whole_direction_translator_steers_by_the_whole_image_and_round_trips(tmp_path):
    g = create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=5, nonnegative=True,
                     direction_angles=6, steer=True, direction_reading="whole").init_identity()
    x = _strobed(37, size=64)
    _starts_as_identity_then_perturb(g, x)
    seen = _spy_on(g, "stem_input", lambda g, x: g._direction.clone())
    with torch.no_grad():
        out = g(x)[-1]
    del g.stem_input
    torch.testing.assert_close(seen[0], whole_blur_direction(x).expand(1, 2, 64, 64))   # one direction per image
    save_checkpoint(g, tmp_path / "g.safetensors")
    loaded = load_any(tmp_path / "g.safetensors")
    local = load_any(tmp_path / "g.safetensors", direction_reading="local")
    assert loaded.direction_reading == "whole"
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x)[-1], out)
        assert (local.eval()(x)[-1] - out).abs().max() > 1e-3      # the reading reaches the filters
    with pytest.raises(ValueError, match="'local' or 'whole'"):
        create_model("b2b_filter_translator", num_res=1, base_channel=8, direction_angles=6, steer=True,
                     direction_reading="global")
    with pytest.raises(ValueError, match="needs steer"):
        create_model("b2b_filter_translator", num_res=1, base_channel=8, direction_angles=6, direction_reading="whole")
