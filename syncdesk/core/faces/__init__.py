"""Faces: detectors behind one small interface, the tracker and the face-centred crop."""
