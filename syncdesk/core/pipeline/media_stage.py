"""Stages "probe" and "audio": what the file holds, and its whole sound track as PCM and MFCC.

Also the clip's frame stream that the frame stages consume by default.
"""

from __future__ import annotations

from typing import Iterator, Optional

from .. import media
from ..errors import SyncdeskError
from ..memory import trim_heap
from ..results import StreamDamage
from ..streaming import prefetch
from .clip_audio import ClipAudio
from .context import AnalysisContext


def open_media(context: AnalysisContext) -> None:
    """Sets ``info``; a file without sound is refused here, before anything loads."""
    with context.timer.stage("probe"):
        context.info = media.probe(context.path)
        if not context.info.has_audio:
            raise SyncdeskError(f"{context.path.name} has no audio stream: there is nothing to sync")


def read_audio(context: AnalysisContext) -> None:
    """Sets ``audio``: the sound from the first video frame's time (``start_s``) on."""
    with context.timer.stage("audio"):
        context.report("audio", 0.0)
        start = media.first_video_time(context.path)
        context.start_s = float(start)
        context.audio_damage = StreamDamage("audio")
        context.audio = ClipAudio(media.read_audio(context.path, start, cancel=context.cancel,
                                                   damage=context.audio_damage))
        trim_heap()  # decoding and resampling the whole track left freed blocks all over the heap
        context.report("audio", 1.0)


def decode_frames(context: AnalysisContext, record: bool = False, pictures: bool = False,
                  small: Optional[tuple[int, int, int]] = None) -> Iterator[media.AnalysisFrame]:
    """The clip's analysis frames, decoded in a thread ahead of their consumer, each dropped once used.

    ``record``: this is the first whole pass: it sets ``video_log`` (undecodable packets, frames,
    their timing; a stream too damaged is refused at its end). ``pictures`` and ``small``: frames
    as :class:`media.Picture`, converted where cropped, with a small colour copy for the cut
    detector (see :func:`media.iter_analysis_frames`).
    """
    log = None
    if record:
        log = context.video_log = media.VideoLog()
    return prefetch(media.iter_analysis_frames(context.path, cancel=context.cancel, log=log, pictures=pictures,
                                              small=small))
