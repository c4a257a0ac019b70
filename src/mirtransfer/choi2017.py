"""The authors' released convnets as facts: their files, checksums, tag list, front ends and pools (no torch).

``choi2017_paper``: the network of the paper (``weights_transfer/weights_theano.hdf5``,
Keras 1 with Theano), which produced the released features and the published scores.
``choi2017``: ``keras2_model/model_best.hdf5``, a later re-training (Keras 2.1.1, kapre
0.1.2). :mod:`mirtransfer.convert` reads both into this project's model; the workflow's
DAG checks configs against the facts here without importing torch.
"""

from __future__ import annotations

import math

from mirtransfer.frontend import PRESETS, FrontEnd, from_config
from mirtransfer.modelspec import PAPER_POOLS

MODEL_SHA256 = "b5042bd44de1fdd9d757b764d9246e6934f47c8bdc5c15bf13566495f3439d48"
PAPER_MODEL_SHA256 = "caf89f811415691fbb245be7eef394b9cebd787d7e3f78e29695972141cf2a08"

# The Million Song Dataset top-50 tags in the order of the model's outputs.
MSD_TOP50 = [
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient",
    "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening",
    "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House",
    "happy",
]
# Its front end: kapre's, with the decibel maximum taken per clip.
FRONTEND = PRESETS["choi2017"]
POOLS = list(PAPER_POOLS)
# Frames the time pools need: before the last pool (pre-pool features) and after it (tags).
_MIN_FRAMES_FEATURES = math.prod(t for _, t in POOLS[:-1])
_MIN_FRAMES_TAGS = math.prod(t for _, t in POOLS)
MIN_FEATURE_SECONDS = FRONTEND.seconds_for(_MIN_FRAMES_FEATURES)
# The paper's network: centred frames, features after every pool, so features and tags
# both need the last pool to keep one frame (1280 frames, 27.286 s at 12 kHz).
PAPER_FRONTEND = PRESETS["choi2017_paper"]
MIN_PAPER_SECONDS = PAPER_FRONTEND.seconds_for(_MIN_FRAMES_TAGS)
# Model types whose batch norm uses each batch's statistics (Keras 1 mode 2, as the authors ran it).
BATCH_STATISTICS_TYPES = ("choi2017_paper",)
# Model type -> (sha256, name in the authors' repository, under reproduction.base_url) of the authors' HDF5.
MODEL_FILES = {
    "choi2017": (MODEL_SHA256, "keras2_model/model_best.hdf5"),
    "choi2017_paper": (PAPER_MODEL_SHA256, "weights_transfer/weights_theano.hdf5"),
}


def frontend(kind: str = "choi2017", duration: float = FRONTEND.duration) -> FrontEnd:
    """A converted model's front end (``kind``: choi2017 or choi2017_paper) with another excerpt
    duration, at least what the model needs (MIN_FEATURE_SECONDS, MIN_PAPER_SECONDS)."""
    seconds, frames, needs = {
        "choi2017": (MIN_FEATURE_SECONDS, _MIN_FRAMES_FEATURES, "its five (pre-pool) layer features"),
        "choi2017_paper": (MIN_PAPER_SECONDS, _MIN_FRAMES_TAGS, "its five layer features and its tags"),
    }[kind]
    if duration < seconds:
        raise ValueError(f"the {kind} convnet needs excerpts of at least {seconds} s ({frames} frames) for {needs}, "
                         f"not {duration} s")
    return from_config({"preset": kind, "duration": duration})
