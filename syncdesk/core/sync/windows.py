"""SyncNet's input geometry: what one window of video and sound is (light: no torch, so option
checks and the command line can use it)."""

#: side of the square BGR face crop the video tower takes
INPUT_SIZE = 224
#: frames per video window; the first video convolution spans exactly this many frames
WINDOW_FRAMES = 5
#: MFCC columns per audio window (0.2 s at 100 columns/s)
WINDOW_MFCC = 20
#: MFCC columns per analysis video frame (25 fps vs 100 MFCC/s)
MFCC_PER_FRAME = 4
