"""Video in and out with PyAV: frames as (3, H, W) float tensors in [0, 1].

Reading takes a frame stride and a limit (for collecting B or S from footage) and reports a
decoding error with the file and the frame number. Writing keeps the input's frame rate and
size: H.264 (yuv420p) when both sides are even, otherwise H.264 in yuv444p, which accepts odd
sizes, so no frame is ever resized or cropped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


class VideoReadError(ValueError):
    """A video could not be opened or a frame could not be decoded (the message names both)."""


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def video_info(path: str | os.PathLike) -> dict:
    """``{"fps": Fraction, "width", "height", "frames"}`` (frames may be 0 when the container does not say)."""
    import av

    try:
        with av.open(str(path)) as box:
            stream = box.streams.video[0]
            return {"fps": Fraction(stream.average_rate or stream.guessed_rate or 30), "width": stream.width,
                    "height": stream.height, "frames": int(stream.frames or 0)}
    except (av.error.FFmpegError, IndexError) as e:
        raise VideoReadError(f"{path}: cannot open as a video ({e})") from None


def read_frames(path: str | os.PathLike, *, stride: int = 1, limit: int | None = None
                ) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(frame index, (3, H, W) tensor in [0, 1])`` for every `stride`-th frame, at most `limit`."""
    import av

    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    try:
        box = av.open(str(path))
    except av.error.FFmpegError as e:
        raise VideoReadError(f"{path}: cannot open as a video ({e})") from None
    with box:
        if not box.streams.video:
            raise VideoReadError(f"{path}: has no video stream")
        index, emitted = -1, 0
        decoder = box.decode(video=0)
        while limit is None or emitted < limit:
            try:
                frame = next(decoder)
            except StopIteration:
                return
            except av.error.FFmpegError as e:
                raise VideoReadError(f"{path}: frame {index + 1}: {e}") from None
            index += 1
            if index % stride:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            emitted += 1
            yield index, torch.from_numpy(rgb).permute(2, 0, 1).float() / 255


class VideoWriter:
    """Write (3, H, W) frames in [0, 1] to an H.264 file: ``with VideoWriter(path, fps, w, h) as vw: vw.write(x)``.

    Frames go to a temporary ``.<stem>.partial<ext>`` next to `path`, renamed to `path` by
    :meth:`close`; :meth:`abort` (or leaving the ``with`` block by an exception) deletes it, so
    `path` is a whole video or absent. Refuses to replace an existing file unless `overwrite`.
    """

    def __init__(self, path: str | os.PathLike, fps: Fraction | float, width: int, height: int, *,
                 crf: int = 18, overwrite: bool = False):
        import av

        from blur2blur.data.images import partial_path

        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists; refusing to overwrite it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = partial_path(self.path)
        self.box = av.open(str(self.partial), mode="w")
        rate = Fraction(fps).limit_denominator(1001 * 1000)
        self.stream = self.box.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        self.stream.options = {"crf": str(crf)}
        self.size = (height, width)
        self.closed = False

    def write(self, frame: torch.Tensor) -> None:
        import av

        if tuple(frame.shape[-2:]) != self.size:
            raise ValueError(f"frame is {tuple(frame.shape[-2:])}, the video {self.size}")
        if not torch.isfinite(frame).all():
            raise ValueError(f"{self.path}: a frame holds NaN or infinite values")
        rgb = (frame.detach().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
            self.box.mux(packet)

    def close(self) -> None:
        """Flush the encoder and move the finished video to its name."""
        if self.closed:
            return
        self.closed = True
        try:
            for packet in self.stream.encode():
                self.box.mux(packet)
            self.box.close()
            os.replace(self.partial, self.path)
        finally:
            self.partial.unlink(missing_ok=True)

    def abort(self) -> None:
        """Stop without a result: the partial file is deleted and `path` is left as it was."""
        if self.closed:
            return
        self.closed = True
        try:
            self.box.close()
        finally:
            self.partial.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def extract_frames(video: str | os.PathLike, out_dir: str | os.PathLike, *, stride: int = 1,
                   limit: int | None = None) -> list[Path]:
    """Write frames of `video` as ``<stem>_f<index>.png`` into `out_dir` (existing ones are kept)."""
    from blur2blur.data.images import write_image

    out, written = Path(out_dir), []
    for i, frame in read_frames(video, stride=stride, limit=limit):
        target = out / f"{Path(video).stem}_f{i:06d}.png"
        if not target.exists():
            write_image(frame, target)
        written.append(target)
    return written


__all__ = ["VIDEO_EXTENSIONS", "VideoReadError", "VideoWriter", "extract_frames", "is_video", "read_frames",
           "video_info"]
