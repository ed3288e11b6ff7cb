"""Fit KitNET on 20,000 packets of a capture from packet SKIP on (after the slow windows warm up) and save it.

    python fit_on_capture.py CAPTURE.pcap OUT.pt SKIP

The model of the memory measurements of ``deepaid explain kitsune --input CAPTURE.pcap`` (docs/benchmarks.md).
"""

from __future__ import annotations

import sys

import numpy as np

from deepaid_plugin_kitsune.bench import TRAIN
from deepaid_plugin_kitsune.kitnet import fit_kitnet
from deepaid_plugin_kitsune.pcap_stream import feature_chunks


def main(capture: str, out: str, skip: int) -> None:
    for chunk in feature_chunks(capture, 20_000, quiet=True):
        if chunk.first >= skip:
            break
    model = fit_kitnet(chunk.features.astype(np.float32), seed=0, **TRAIN)
    model.save(out)
    print("threshold", float(model.threshold))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
