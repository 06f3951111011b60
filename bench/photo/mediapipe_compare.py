"""Times MediaPipe 0.10.14 (Python) face detection + face mesh on image files.

For every file: decode (OpenCV), BlazeFace short-range detection, then FaceMesh with iris
refinement (static_image_mode, one face) -- the same stages the Rust check runs (it adds the
person segmentation and the checks on top). One warm-up run, then N timed runs.
Prints a table to stderr and one JSON object on the last stdout line.
"""
import argparse
import json
import statistics
import sys
import time

import cv2
import mediapipe as mp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    det = mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5)
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True)
    per_file = {}
    for f in a.files:
        def once():
            t0 = time.perf_counter()
            img = cv2.imread(f, cv2.IMREAD_COLOR)
            if img is None:
                return None
            rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            det.process(rgb)
            mesh.process(rgb)
            return (time.perf_counter() - t0) * 1000.0
        if once() is None:
            continue
        per_file[f] = [once() for _ in range(a.iterations)]
        print(f"{f}: median {statistics.median(per_file[f]):.1f} ms", file=sys.stderr)
    allv = [v for vs in per_file.values() for v in vs]
    out = {
        "mediapipe": mp.__version__,
        "per_file_ms": per_file,
        "median_ms": statistics.median(allv) if allv else None,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
