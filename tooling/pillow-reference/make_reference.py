#!/usr/bin/python3
"""Writes the Pillow reference that @vl/clip's image preprocessing is tested against.

For each case it resizes an image with Pillow's `Image.resize(..., BICUBIC)` (or another filter) to
the size Hugging Face's CLIPImageProcessor picks (shortest edge, `int(size * long / short)`), then
center-crops with Hugging Face's `center_crop` rules (top-left at `(size - crop) // 2`, zero padding
when the image is smaller than the crop), and saves the 8-bit crop as a PNG next to a manifest.

Inputs:
- generated images: smooth gradients, a soft highlight, hard-edged bands, saturated patches and
  noise, from integer arithmetic only, so the TypeScript test regenerates identical pixels (the
  manifest records a checksum of each);
- the real photos in packages/clip/test/fixtures/images/ (chelsea.png, rocket.jpg). For the JPEG the
  pixels Pillow decoded (libjpeg) are saved too, so the resize is checked on exactly Pillow's input
  and the decoder is checked separately; chelsea-420.jpg (written here, 4:2:0) checks the decoder's
  chroma upsampling.

Run with Debian's Python and Pillow (apt-get install -y python3-pil python3-numpy), from anywhere:
    /usr/bin/python3 tooling/pillow-reference/make_reference.py
"""

import json
import math
from pathlib import Path

import numpy as np
import PIL
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "packages" / "clip" / "test" / "fixtures"
IMAGES = FIXTURES / "images"
OUT = FIXTURES / "pillow"

FILTERS = {
    "bicubic": Image.BICUBIC,
    "bilinear": Image.BILINEAR,
    "lanczos": Image.LANCZOS,
    "box": Image.BOX,
    "hamming": Image.HAMMING,
}


def generate(width, height, seed):
    """A photo-like RGB image from integer arithmetic; test/image.test.ts mirrors it line by line."""
    mask = 0xFFFFFFFF
    state = seed
    out = bytearray(width * height * 3)

    def noise():
        nonlocal state
        state ^= (state << 13) & mask
        state ^= state >> 17
        state ^= (state << 5) & mask
        return state % 25 - 12

    radius2 = (min(width, height) // 3) ** 2 + 1
    period = width // 4 + 9
    i = 0
    for y in range(height):
        for x in range(width):
            gx = x * 255 // max(width - 1, 1)
            gy = y * 255 // max(height - 1, 1)
            r = 30 + gx * 3 // 5 + gy // 4
            g = 60 + gy * 2 // 3 - gx // 6
            b = 230 - gy * 4 // 5 + gx // 8
            dx = x - 2 * width // 3
            dy = y - height // 3
            d2 = dx * dx + dy * dy
            if d2 < radius2:
                t = (radius2 - d2) * 200 // radius2
                r += t
                g += t * 3 // 4
                b += t // 3
            if (x + 2 * y) % period < period // 5:
                r //= 5
                g //= 5
                b //= 4
            if x < width // 6 and y >= height - height // 5:
                r = g = b = 255
            if x >= width - width // 7 and y < height // 6:
                r = g = b = 0
            out[i] = min(max(r + noise(), 0), 255)
            out[i + 1] = min(max(g + noise(), 0), 255)
            out[i + 2] = min(max(b + noise(), 0), 255)
            i += 3
    return Image.frombytes("RGB", (width, height), bytes(out))


def fnv1a(data):
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def shortest_edge_size(width, height, size):
    """transformers' get_resize_output_image_size(default_to_square=False), as (width, height)."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def center_crop(array, crop_height, crop_width):
    """transformers' image_transforms.center_crop on an HWC array."""
    height, width = array.shape[:2]
    top = (height - crop_height) // 2
    left = (width - crop_width) // 2
    if top >= 0 and left >= 0 and top + crop_height <= height and left + crop_width <= width:
        return array[top : top + crop_height, left : left + crop_width]
    new_height, new_width = max(crop_height, height), max(crop_width, width)
    padded = np.zeros((new_height, new_width, 3), dtype=array.dtype)
    top_pad = math.ceil((new_height - height) / 2)
    left_pad = math.ceil((new_width - width) / 2)
    padded[top_pad : top_pad + height, left_pad : left_pad + width] = array
    top += top_pad
    left += left_pad
    return padded[max(0, top) : min(new_height, top + crop_height), max(0, left) : min(new_width, left + crop_width)]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    generated = {}

    def gen(width, height, seed):
        key = (width, height, seed)
        if key not in generated:
            generated[key] = generate(width, height, seed)
        return generated[key]

    chelsea = Image.open(IMAGES / "chelsea.png").convert("RGB")
    rocket = Image.open(IMAGES / "rocket.jpg").convert("RGB")
    rocket.save(OUT / "rocket.pillow.png", optimize=True)
    # A 4:2:0 JPEG (Pillow's default subsampling) at odd sizes, and the pixels libjpeg decodes from
    # it: the decoder is checked on the chroma upsampling rocket.jpg (4:4:4) does not exercise.
    chelsea.crop((80, 40, 80 + 129, 40 + 97)).save(IMAGES / "chelsea-420.jpg", quality=90)
    Image.open(IMAGES / "chelsea-420.jpg").convert("RGB").save(OUT / "chelsea-420.pillow.png", optimize=True)

    def generated_input(width, height, seed):
        return {"kind": "generated", "width": width, "height": height, "seed": seed}, gen(width, height, seed)

    cases = [
        ("gen-37x53", *generated_input(37, 53, 1), 224, (224, 224), "bicubic"),
        ("gen-301x199", *generated_input(301, 199, 2), 224, (224, 224), "bicubic"),
        ("gen-640x427", *generated_input(640, 427, 3), 224, (224, 224), "bicubic"),
        ("gen-100x1000", *generated_input(100, 1000, 4), 224, (224, 224), "bicubic"),
        ("gen-50x30", *generated_input(50, 30, 5), 224, (224, 224), "bicubic"),
        ("gen-1000x700", *generated_input(1000, 700, 6), 224, (224, 224), "bicubic"),
        ("chelsea", {"kind": "file", "file": "chelsea.png"}, chelsea, 224, (224, 224), "bicubic"),
        (
            "rocket",
            {"kind": "file", "file": "rocket.jpg", "pillowPixels": "rocket.pillow.png"},
            rocket,
            224,
            (224, 224),
            "bicubic",
        ),
        ("gen-640x427-pad", *generated_input(640, 427, 3), 48, (64, 40), "bicubic"),
    ] + [
        (f"gen-301x199-{name}", *generated_input(301, 199, 2), 64, (64, 64), name)
        for name in ("bilinear", "lanczos", "box", "hamming")
    ]

    manifest = {
        "generator": "tooling/pillow-reference/make_reference.py",
        "pillow": PIL.__version__,
        "cases": [],
    }
    for name, source, image, size, (crop_height, crop_width), resample in cases:
        width, height = shortest_edge_size(image.width, image.height, size)
        resized = image.resize((width, height), resample=FILTERS[resample], reducing_gap=None)
        crop = center_crop(np.asarray(resized), crop_height, crop_width)
        expected = f"{name}.expected.png"
        Image.fromarray(np.ascontiguousarray(crop), "RGB").save(OUT / expected, optimize=True)
        manifest["cases"].append(
            {
                "name": name,
                "input": source,
                "inputSize": [image.width, image.height],
                "inputFnv1a": fnv1a(image.tobytes()),
                "size": size,
                "resized": [width, height],
                "crop": [crop_width, crop_height],
                "resample": resample,
                "expected": expected,
            }
        )
        print(f"{name}: {image.width}x{image.height} -> {width}x{height} -> {crop_width}x{crop_height} ({resample})")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
