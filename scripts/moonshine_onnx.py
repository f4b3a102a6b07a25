#!/usr/bin/env python3
"""Convert an exported Moonshine (the first architecture) in ONNX form into the Hugging Face layout
hark loads: config.json and model.safetensors (f32), names as transformers' MoonshineForConditionalGeneration
has them. Standard library only (a small protobuf reader), so the test script needs no extra packages.

    python3 scripts/moonshine_onnx.py ENCODER.onnx DECODER_MERGED.onnx OUT_DIR [--tiny|--base]

Handles the exports UsefulSensors publish (optimum's merged decoder, float or dynamically quantized
to 8 bits: MatMulInteger with per-tensor scale and zero point; weights are dequantized to f32).
The mapping goes by the graph's node names (`/layers.0/self_attn/q_proj/MatMul_quant` ...), since
the initializers of matrix products are anonymous (`onnx::MatMul_1493`).
"""
import array
import json
import os
import re
import struct
import sys

SHAPES = {
    # hidden, intermediate, encoder layers, decoder layers, heads, max positions
    "tiny": (288, 1152, 6, 6, 8, 194),
    "base": (416, 1664, 8, 8, 8, 194),
}


def varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def fields(buf):
    """Yield (field number, wire type, value) of one protobuf message."""
    i, n = 0, len(buf)
    while i < n:
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v, i = buf[i : i + 8], i + 8
        elif wt == 2:
            ln, i = varint(buf, i)
            v, i = buf[i : i + ln], i + ln
        elif wt == 5:
            v, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        yield num, wt, v


def packed_ints(wt, v):
    if wt == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i)
        out.append(x)
    return out


class Tensor:
    def __init__(self, buf):
        self.dims, self.dtype, self.name, self.raw, self.floats = [], 0, "", None, []
        for num, wt, v in fields(buf):
            if num == 1:
                self.dims += packed_ints(wt, v)
            elif num == 2:
                self.dtype = v
            elif num == 4:
                self.floats += list(struct.unpack(f"<{len(v) // 4}f", v)) if wt == 2 else [struct.unpack("<f", v)[0]]
            elif num == 5 or num == 7:
                self.floats += packed_ints(wt, v)
            elif num == 8:
                self.name = v.decode()
            elif num == 9:
                self.raw = v

    def bytes(self):
        """An 8-bit tensor's elements as bytes (stored raw, or as int32 data)."""
        return self.raw if self.raw is not None else bytes(x & 0xFF for x in self.floats)

    def count(self):
        n = 1
        for d in self.dims:
            n *= d
        return n

    def values(self, zero_point=0, scale=1.0, offset=0.0):
        """The elements as f32 (8-bit ones dequantized: (q - zero_point) * scale + offset)."""
        if self.dtype == 1:
            if self.raw is not None:
                return array.array("f", self.raw)
            return array.array("f", self.floats)
        if self.dtype in (2, 3):
            raw = self.bytes()
            signed = self.dtype == 3
            lut = [((b - 256 if signed and b > 127 else b) - zero_point) * scale + offset for b in range(256)]
            return array.array("f", map(lut.__getitem__, raw))
        raise ValueError(f"{self.name}: data type {self.dtype} is not supported")

    def scalar(self):
        """The first element: a float, or an 8-bit zero point as an integer."""
        if self.dtype in (2, 3):
            b = self.bytes()
            return b[0] - 256 if self.dtype == 3 and b[0] > 127 else b[0]
        return self.values()[0]


class Node:
    def __init__(self, buf):
        self.inputs, self.outputs, self.name, self.op, self.graphs = [], [], "", "", []
        for num, _, v in fields(buf):
            if num == 1:
                self.inputs.append(v.decode())
            elif num == 2:
                self.outputs.append(v.decode())
            elif num == 3:
                self.name = v.decode()
            elif num == 4:
                self.op = v.decode()
            elif num == 5:
                for anum, _, av in fields(v):
                    if anum == 6:
                        self.graphs.append(av)


def walk(graph_buf, nodes, inits):
    for num, _, v in fields(graph_buf):
        if num == 1:
            node = Node(v)
            nodes.append(node)
            for g in node.graphs:
                walk(g, nodes, inits)
        elif num == 5:
            t = Tensor(v)
            inits[t.name] = t


def load(path):
    with open(path, "rb") as f:
        buf = f.read()
    nodes, inits = [], {}
    for num, _, v in fields(buf):
        if num == 7:
            walk(v, nodes, inits)
    return nodes, inits


def dequant(inits, name):
    """An initializer as f32, dequantized when it is `X_quantized` with `X_scale`, `X_zero_point`:
    `(q - zero_point) * scale`, or `q * scale + zero_point` where the zero point is a float (how the
    export dequantizes its convolution weights in the graph: Cast, Mul, Add)."""
    t = inits[name]
    if name.endswith("_quantized"):
        base = name[: -len("_quantized")]
        scale = inits[base + "_scale"].scalar()
        zp = inits.get(base + "_zero_point")
        if zp is not None and zp.dtype == 1:
            return t.values(0, scale, zp.scalar()), t.dims
        return t.values(zp.scalar() if zp is not None else 0, scale), t.dims
    return t.values(), t.dims


def weight_input(node, inits):
    for name in node.inputs[1:2]:
        if name in inits:
            return name
    raise ValueError(f"{node.name}: no weight initializer")


def transpose(values, rows, cols):
    """[rows, cols] row-major to [cols, rows]."""
    out = array.array("f")
    for j in range(cols):
        out.extend(values[j::cols])
    return out


LINEAR = re.compile(r"^/(?:model/)?(?:(decoder|encoder)/)?layers\.(\d+)/(self_attn|encoder_attn|mlp)/(\w+)/MatMul")
RENAME = {"dense": "o_proj", "up_proj": "fc1", "down_proj": "fc2"}


def convert(enc_path, dec_path, out_dir, size):
    hidden, inter, enc_layers, dec_layers, heads, max_pos = SHAPES[size]
    tensors = {}

    for part, path in (("encoder", enc_path), ("decoder", dec_path)):
        nodes, inits = load(path)
        for node in nodes:
            m = LINEAR.match(node.name)
            if not m or node.op not in ("MatMulInteger", "MatMul"):
                continue
            _, layer, block, proj = m.groups()
            name = f"model.{part}.layers.{layer}.{block}.{RENAME.get(proj, proj)}.weight"
            if name in tensors:
                continue
            values, dims = dequant(inits, weight_input(node, inits))
            tensors[name] = (transpose(values, dims[0], dims[1]), [dims[1], dims[0]])
        for name, t in inits.items():
            clean = name.replace("_merged_0", "")
            if clean.endswith("_quantized") and "embed_tokens" in clean:
                values, dims = dequant(inits, name)
                tensors["model.decoder.embed_tokens.weight"] = (values, dims)
            elif re.search(r"(layernorm|layer_norm|norm)\.weight$|\.bias$", clean):
                clean = re.sub(r"^model\.(decoder|encoder)\.", "", clean)
                clean = clean.replace("mlp.up_proj", "mlp.fc1").replace("mlp.down_proj", "mlp.fc2")
                tensors[f"model.{part}.{clean}"] = (t.values(), t.dims)
            elif part == "encoder" and re.match(r"conv\d\.weight_quantized$", clean):
                values, dims = dequant(inits, name)
                tensors[f"model.encoder.{clean[: -len('_quantized')]}"] = (values, dims)
            elif part == "encoder" and re.match(r"conv\d\.weight$", clean):
                tensors[f"model.encoder.{clean}"] = (t.values(), t.dims)
        if part == "encoder":
            for node in nodes:
                if node.name in ("/groupnorm/Mul", "/groupnorm/Add"):
                    src = next((n for n in node.inputs if n in inits and inits[n].count() == hidden), None)
                    if src is None:
                        raise ValueError(f"{node.name}: no per-channel initializer")
                    which = "weight" if node.name.endswith("Mul") else "bias"
                    tensors[f"model.encoder.groupnorm.{which}"] = (inits[src].values(), [hidden])

    expected = ["model.encoder.conv1.weight", "model.encoder.conv2.weight", "model.encoder.conv3.weight",
                "model.encoder.groupnorm.weight", "model.encoder.groupnorm.bias", "model.encoder.layer_norm.weight",
                "model.decoder.embed_tokens.weight", "model.decoder.norm.weight"]
    for i in range(enc_layers):
        for p in ("q_proj", "k_proj", "v_proj", "o_proj"):
            expected.append(f"model.encoder.layers.{i}.self_attn.{p}.weight")
        expected += [f"model.encoder.layers.{i}.mlp.fc1.weight", f"model.encoder.layers.{i}.mlp.fc2.weight"]
    for i in range(dec_layers):
        for blk in ("self_attn", "encoder_attn"):
            for p in ("q_proj", "k_proj", "v_proj", "o_proj"):
                expected.append(f"model.decoder.layers.{i}.{blk}.{p}.weight")
        expected += [f"model.decoder.layers.{i}.mlp.fc1.weight", f"model.decoder.layers.{i}.mlp.fc2.weight"]
    missing = [n for n in expected if n not in tensors]
    if missing:
        raise ValueError(f"not found in the ONNX graphs: {missing[:8]} ({len(missing)} in all)")

    os.makedirs(out_dir, exist_ok=True)
    config = {
        "model_type": "moonshine",
        "architectures": ["MoonshineForConditionalGeneration"],
        "vocab_size": 32768,
        "hidden_size": hidden,
        "intermediate_size": inter,
        "encoder_num_hidden_layers": enc_layers,
        "decoder_num_hidden_layers": dec_layers,
        "encoder_num_attention_heads": heads,
        "decoder_num_attention_heads": heads,
        "encoder_hidden_act": "gelu",
        "decoder_hidden_act": "silu",
        "max_position_embeddings": max_pos,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.9},
        "bos_token_id": 1,
        "decoder_start_token_id": 1,
        "eos_token_id": 2,
        "tie_word_embeddings": True,
    }
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)


def write_safetensors(path, tensors):
    header, offset = {}, 0
    names = sorted(tensors)
    for name in names:
        values, dims = tensors[name]
        n = len(values) * 4
        header[name] = {"dtype": "F32", "shape": list(dims), "data_offsets": [offset, offset + n]}
        offset += n
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    tmp = path + f".{os.getpid()}.partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for name in names:
            values, _ = tensors[name]
            if sys.byteorder != "little":
                values.byteswap()
            f.write(values.tobytes())
    os.replace(tmp, path)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    size = "base" if "--base" in sys.argv else "tiny"
    if len(args) != 3:
        sys.exit(__doc__)
    convert(args[0], args[1], args[2], size)
