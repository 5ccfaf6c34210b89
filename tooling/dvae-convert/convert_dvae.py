#!/usr/bin/env python3
"""Convert OpenAI's DALL-E dVAE pickles (encoder.pkl, decoder.pkl) into the checkpoint folder that
@vl/dvae's loadDvae reads: config.json plus encoder.safetensors and decoder.safetensors, with the
original parameter names (blocks.group_1.block_1.res_path.conv_1.w, ...).

Subcommands (see README.md):

  convert   --encoder encoder.pkl --decoder decoder.pkl --out DIR   needs torch, dall_e, safetensors
  expected  --config config.json                                     pure Python: names and shapes
  check     DIR                                                      pure Python: validates a folder
  self-test                                                          pure Python: shape inference

Only `convert` needs torch. The other subcommands use the standard library alone, so the name and
shape rules can be tested anywhere (packages/dvae/test/convertScript.test.ts runs them).
"""

import argparse
import json
import math
import os
import struct
import sys
from collections import OrderedDict

LOGIT_LAPLACE_EPS = 0.1

# The fields and defaults of dall_e's Encoder and Decoder attrs classes (dall_e/encoder.py and
# dall_e/decoder.py), which are also the field names of our config.json.
ENCODER_DEFAULTS = OrderedDict(
    group_count=4, n_hid=256, n_blk_per_group=2, input_channels=3, vocab_size=8192
)
DECODER_DEFAULTS = OrderedDict(
    group_count=4, n_init=128, n_hid=256, n_blk_per_group=2, output_channels=3, vocab_size=8192
)


# ------------------------------------------------------------------------------------------------
# Names and shapes (pure Python), derived from the configs the way dall_e's constructors build the
# modules: every Conv2d holds `w` [n_out, n_in, kw, kw] and `b` [n_out]; a block's hidden width is
# n_out // 4; its id_path is a 1x1 conv only where the channel count changes (else nn.Identity,
# which has no parameters); pools, upsamplings and relus have no parameters either.


def _conv(shapes, name, n_out, n_in, kw):
    shapes[name + ".w"] = [n_out, n_in, kw, kw]
    shapes[name + ".b"] = [n_out]


def _blocks(shapes, cfg, n_in, widths, res_kernels):
    for g, n_out in enumerate(widths, start=1):
        for b in range(1, cfg["n_blk_per_group"] + 1):
            prefix = "blocks.group_%d.block_%d" % (g, b)
            hid = n_out // 4
            if n_in != n_out:
                _conv(shapes, prefix + ".id_path", n_out, n_in, 1)
            k1, k2, k3, k4 = res_kernels
            _conv(shapes, prefix + ".res_path.conv_1", hid, n_in, k1)
            _conv(shapes, prefix + ".res_path.conv_2", hid, hid, k2)
            _conv(shapes, prefix + ".res_path.conv_3", hid, hid, k3)
            _conv(shapes, prefix + ".res_path.conv_4", n_out, hid, k4)
            n_in = n_out
    return n_in


def encoder_shapes(cfg):
    """Every encoder tensor name -> shape. Group g (1-based) has 2^(g-1) * n_hid channels."""
    shapes = OrderedDict()
    _conv(shapes, "blocks.input", cfg["n_hid"], cfg["input_channels"], 7)
    widths = [2 ** (g - 1) * cfg["n_hid"] for g in range(1, cfg["group_count"] + 1)]
    n_in = _blocks(shapes, cfg, cfg["n_hid"], widths, (3, 3, 3, 1))
    _conv(shapes, "blocks.output.conv", cfg["vocab_size"], n_in, 1)
    return shapes


def decoder_shapes(cfg):
    """Every decoder tensor name -> shape. Group g has 2^(group_count-g) * n_hid channels."""
    shapes = OrderedDict()
    _conv(shapes, "blocks.input", cfg["n_init"], cfg["vocab_size"], 1)
    gc = cfg["group_count"]
    widths = [2 ** (gc - g) * cfg["n_hid"] for g in range(1, gc + 1)]
    n_in = _blocks(shapes, cfg, cfg["n_init"], widths, (1, 3, 3, 3))
    _conv(shapes, "blocks.output.conv", 2 * cfg["output_channels"], n_in, 1)
    return shapes


def _positive_int(section, key, default, where):
    v = section.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError("%s.%s must be a positive integer, got %r" % (where, key, v))
    return v


def parse_config(raw):
    """The same rules as @vl/dvae's parseDvaeConfig: defaults filled in, vocab sizes must agree."""
    enc = raw.get("encoder", {}) or {}
    dec = raw.get("decoder", {}) or {}
    cfg = {
        "encoder": OrderedDict(
            (k, _positive_int(enc, k, d, "encoder")) for k, d in ENCODER_DEFAULTS.items()
        ),
        "decoder": OrderedDict(
            (k, _positive_int(dec, k, d, "decoder")) for k, d in DECODER_DEFAULTS.items()
        ),
        "logit_laplace_eps": raw.get("logit_laplace_eps", LOGIT_LAPLACE_EPS),
    }
    if cfg["encoder"]["vocab_size"] != cfg["decoder"]["vocab_size"]:
        raise ValueError(
            "encoder.vocab_size (%d) and decoder.vocab_size (%d) must match"
            % (cfg["encoder"]["vocab_size"], cfg["decoder"]["vocab_size"])
        )
    return cfg


def _count(shapes, pattern_prefix):
    """The largest n such that some name starts with pattern_prefix + str(n) + '.'."""
    best = 0
    for name in shapes:
        if name.startswith(pattern_prefix):
            rest = name[len(pattern_prefix):]
            head = rest.split(".", 1)[0]
            if head.isdigit():
                best = max(best, int(head))
    return best


def infer_config(kind, shapes):
    """Recovers a half's config from its tensor shapes (for pickles whose attrs are unreadable)."""
    def need(name):
        if name not in shapes:
            raise ValueError("%s: tensor %s is missing, cannot infer the config" % (kind, name))
        return list(shapes[name])

    group_count = _count(shapes, "blocks.group_")
    n_blk = _count(shapes, "blocks.group_1.block_")
    if kind == "encoder":
        w_in, w_out = need("blocks.input.w"), need("blocks.output.conv.w")
        return OrderedDict(
            group_count=group_count,
            n_hid=w_in[0],
            n_blk_per_group=n_blk,
            input_channels=w_in[1],
            vocab_size=w_out[0],
        )
    w_in, w_out = need("blocks.input.w"), need("blocks.output.conv.w")
    return OrderedDict(
        group_count=group_count,
        n_init=w_in[0],
        n_hid=w_out[1],
        n_blk_per_group=n_blk,
        output_channels=w_out[0] // 2,
        vocab_size=w_in[1],
    )


def check_shapes(kind, expected, actual):
    """Problems (strings) between the expected and the actual name -> shape maps; [] if none."""
    problems = []
    for name, shape in expected.items():
        if name not in actual:
            problems.append("%s: tensor %s %s is missing" % (kind, name, shape))
        elif list(actual[name]) != list(shape):
            problems.append(
                "%s: tensor %s has shape %s but the config expects %s"
                % (kind, name, list(actual[name]), shape)
            )
    for name in actual:
        if name not in expected:
            problems.append("%s: unexpected tensor %s (not in the config)" % (kind, name))
    return problems


def read_safetensors_header(path):
    """name -> (dtype, shape) from a safetensors file's JSON header (no tensor data is read)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    header.pop("__metadata__", None)
    return OrderedDict((k, (v["dtype"], v["shape"])) for k, v in header.items())


# ------------------------------------------------------------------------------------------------
# Conversion (needs torch, dall_e and safetensors).


def _config_of_module(kind, module, shapes):
    """The half's config from the module's attrs, cross-checked against the tensor shapes."""
    inferred = infer_config(kind, shapes)
    defaults = ENCODER_DEFAULTS if kind == "encoder" else DECODER_DEFAULTS
    cfg = OrderedDict()
    for key in defaults:
        v = getattr(module, key, None)
        if v is None:
            v = inferred[key]  # an older dall_e without this attribute: trust the shapes
        if int(v) != inferred[key]:
            raise ValueError(
                "%s: the module says %s = %s but its tensors imply %s" % (kind, key, v, inferred[key])
            )
        cfg[key] = int(v)
    return cfg


def _load_module(torch, path):
    # The pickles hold whole dall_e modules, not state dicts, so unpickling must be allowed to build
    # arbitrary objects (torch >= 2.6 defaults to weights_only=True). Only load files you trust.
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except TypeError:  # torch < 1.13 has no weights_only argument
        return torch.load(path, map_location="cpu")


def convert(encoder_pkl, decoder_pkl, out_dir, dtype="float32"):
    import torch  # noqa: F401  (imported here so the pure-Python subcommands work without it)
    from safetensors.torch import save_file

    try:
        import dall_e  # noqa: F401  (the pickles reference dall_e.encoder.Encoder and friends)
    except ImportError as e:
        raise SystemExit("convert: `pip install dall_e` first (the pickles need its classes): %s" % e)

    torch_dtype = {"float32": torch.float32, "float16": torch.float16}[dtype]
    os.makedirs(out_dir, exist_ok=True)
    config = OrderedDict()
    for kind, path, expected_of in (
        ("encoder", encoder_pkl, encoder_shapes),
        ("decoder", decoder_pkl, decoder_shapes),
    ):
        module = _load_module(torch, path)
        state = module.state_dict()
        tensors = OrderedDict(
            (name, t.detach().to("cpu", torch_dtype).contiguous()) for name, t in state.items()
        )
        shapes = OrderedDict((name, list(t.shape)) for name, t in tensors.items())
        cfg = _config_of_module(kind, module, shapes)
        problems = check_shapes(kind, expected_of(cfg), shapes)
        if problems:
            raise SystemExit("convert: %s does not match its config:\n  %s" % (path, "\n  ".join(problems)))
        save_file(tensors, os.path.join(out_dir, kind + ".safetensors"), metadata={"format": "pt"})
        config[kind] = cfg
        print("%s: %d tensors, %s" % (kind, len(tensors), dict(cfg)))
    if config["encoder"]["vocab_size"] != config["decoder"]["vocab_size"]:
        raise SystemExit("convert: the encoder and decoder disagree on vocab_size")
    config["logit_laplace_eps"] = LOGIT_LAPLACE_EPS
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print("wrote %s" % out_dir)


# ------------------------------------------------------------------------------------------------
# Pure-Python subcommands.


def check_folder(folder):
    """Validates config.json and both safetensors files of a converted folder; [] if fine."""
    with open(os.path.join(folder, "config.json")) as f:
        cfg = parse_config(json.load(f))
    problems = []
    for kind, expected_of in (("encoder", encoder_shapes), ("decoder", decoder_shapes)):
        header = read_safetensors_header(os.path.join(folder, kind + ".safetensors"))
        shapes = OrderedDict((k, v[1]) for k, v in header.items())
        problems += check_shapes(kind, expected_of(cfg[kind]), shapes)
        problems += [
            "%s: tensor %s is %s (F32, F16 or BF16 expected)" % (kind, k, v[0])
            for k, v in header.items()
            if v[0] not in ("F32", "F16", "BF16")
        ]
    return problems


def self_test():
    configs = [
        {},
        {"encoder": {"n_hid": 64, "n_blk_per_group": 1, "vocab_size": 512},
         "decoder": {"n_init": 32, "n_hid": 64, "n_blk_per_group": 1, "vocab_size": 512}},
        {"encoder": {"group_count": 3, "n_hid": 16, "vocab_size": 32, "input_channels": 1},
         "decoder": {"group_count": 2, "n_init": 8, "n_hid": 16, "n_blk_per_group": 3,
                     "vocab_size": 32, "output_channels": 1}},
    ]
    for raw in configs:
        cfg = parse_config(raw)
        for kind, expected_of in (("encoder", encoder_shapes), ("decoder", decoder_shapes)):
            shapes = expected_of(cfg[kind])
            back = infer_config(kind, shapes)
            assert back == cfg[kind], "%s: inferred %s from %s" % (kind, dict(back), dict(cfg[kind]))
            assert not check_shapes(kind, shapes, shapes)
    # The official encoder: 8192 logits from 8 * 256 channels; 2 blocks in each of 4 groups.
    enc = encoder_shapes(ENCODER_DEFAULTS)
    assert enc["blocks.output.conv.w"] == [8192, 2048, 1, 1]
    assert enc["blocks.group_2.block_1.id_path.w"] == [512, 256, 1, 1]
    params = sum(math.prod(s) for s in enc.values())
    print("self-test ok (official encoder: %d tensors, %d parameters)" % (len(enc), params))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("convert", help="encoder.pkl + decoder.pkl -> a loadDvae folder (needs torch)")
    p.add_argument("--encoder", required=True, help="path to the official encoder.pkl")
    p.add_argument("--decoder", required=True, help="path to the official decoder.pkl")
    p.add_argument("--out", required=True, help="folder to write config.json and the safetensors into")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    p = sub.add_parser("expected", help="print the tensor names and shapes a config implies (JSON)")
    p.add_argument("--config", help="a config.json (default: the official config)")
    p = sub.add_parser("check", help="validate a converted folder against its config.json")
    p.add_argument("folder")
    sub.add_parser("self-test", help="check the pure-Python shape rules")
    args = parser.parse_args(argv)

    if args.command == "convert":
        convert(args.encoder, args.decoder, args.out, args.dtype)
    elif args.command == "expected":
        raw = {}
        if args.config:
            with open(args.config) as f:
                raw = json.load(f)
        cfg = parse_config(raw)
        out = {
            "encoder": encoder_shapes(cfg["encoder"]),
            "decoder": decoder_shapes(cfg["decoder"]),
        }
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
    elif args.command == "check":
        problems = check_folder(args.folder)
        if problems:
            print("\n".join(problems))
            return 1
        print("ok: %s matches its config.json" % args.folder)
    elif args.command == "self-test":
        self_test()
    return 0


if __name__ == "__main__":
    sys.exit(main())
