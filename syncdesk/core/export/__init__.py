"""Write a copy of a video with its audio shifted, the video stream copied bit for bit.

Sign (contract.md): a positive ``offset_ms`` means the audio leads, so the fix *delays* the audio
by ``offset_ms``; a negative one advances it. The shift is sample-accurate (``round(offset_ms *
rate / 1000)`` samples, not whole frames) and the audio keeps its length: a delay pads silence at
the start and drops as many samples at the end, an advance does the opposite.

Two methods:

* re-encode (default, :mod:`.audio`): the shifted audio stream is decoded, moved in samples and
  encoded again in its own codec at a high bit rate, or a fallback codec that
  :attr:`ExportResult.note` names. Every other stream (video, other audio tracks, subtitles,
  attachments) is copied packet for packet (:mod:`.plan`), with chapters, container and stream
  metadata (title, language), dispositions and the rotation matrix.
* lossless (mp4/mov only): nothing is re-encoded; the audio packets' timestamps move and the muxer
  writes an edit list (an empty edit for a delay, a media-time skip for an advance), in a movie
  timescale equal to the audio's sample rate so the edit is sample-exact. Players on FFmpeg's
  libavformat honour it (mpv, ffplay, Kodi, syncdesk itself; checked here by decoding with FFmpeg),
  and so does Apple's QuickTime/AVFoundation, whose file format defines edit lists. Elsewhere (VLC's
  own MP4 demuxer, browsers, Windows players, MPC-HC/BE, Android, TVs, editors) support varies by
  version and kind of edit, and a player that ignores it plays the audio unshifted: re-encode when
  the file must play right everywhere. A delayed track ends within one audio packet (1024 samples
  for AAC) of the original end; an advanced one ends earlier by the shift.

Why in-process PyAV rather than driving the ``ffmpeg`` binary: it counts the decoded samples
itself, so padding and trimming are exact (a filter graph needs the sample count up front, from
the header); it places audio by timestamps, so a gap in the stream stays a gap; it checks the
cancel token and reports progress between packets (no process, pipes or ``-progress`` parsing); it
sets the muxer's movie timescale for sample-exact edit lists; and it is the same FFmpeg build that
:mod:`syncdesk.core.media` probes and decodes with. The binary is somewhat faster; the measurements
are in ``bench/export_method.md``.

Safety (:mod:`.paths`, :mod:`.writer`): the output is written to a hidden ``.part`` file beside it,
probed and checked (streams, codecs, duration within one frame), then moved into place. An output
that is the input under any spelling (symlink, hard link, ``..``) is refused, an existing output is
refused unless ``overwrite``, the input is only opened for reading, and on any error, cancellation
or Ctrl-C the ``.part`` file is removed.
"""

from .audio import SampleShifter
from .auto import IN_SYNC, Advice, AutoFix, plan_auto_fix, refuse_lossless
from .paths import check_paths, preflight, same_file
from .result import ExportError, ExportResult
from .segments import SegmentFix, check_segments, load_segments
from .writer import correct_audio, shift_audio, verify

__all__ = ["IN_SYNC", "Advice", "AutoFix", "ExportError", "ExportResult", "SampleShifter", "SegmentFix", "check_paths", "check_segments",
           "correct_audio", "load_segments", "plan_auto_fix", "preflight", "refuse_lossless", "same_file", "shift_audio", "verify"]
