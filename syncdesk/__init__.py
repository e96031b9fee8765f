"""syncdesk: find and fix audio-video (lip-sync) offsets."""

__version__ = "0.1.0"
