// Two rewrites of clang 14's wasm output that build.mjs applies to the code section, instruction by
// instruction (never by byte search, which could hit an immediate):
//
// foldOffsets: clang 14 computes `p + 16` with an `i32.add` before a load because wasm's offset
//   immediate does not wrap and clang cannot prove the add does not; V8 then spends a `lea` and a
//   `mov` on every such access. In the micro-kernel that is ~6 of ~30 instructions per k step (it
//   is front-end bound), so folding them into the memarg offset is worth ~15%. Valid because our
//   pointers never wrap around 4 GiB.
// relaxedMadd: clang 14 encodes __builtin_wasm_fma_f32x4 as the pre-standard opcode 0xfd 0xaf; the
//   final relaxed-SIMD proposal spells f32x4.relaxed_madd 0xfd 0x105.
//
// The decoder covers the instructions clang emits for matmul.c and throws on anything else, so a
// change in the C source cannot silently produce a wrong rewrite.

function readU32(bytes, pos) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[pos++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(b & 0x80)) return [value, pos];
  }
}

function readS32(bytes, pos) {
  let value = 0;
  let shift = 0;
  let b;
  do {
    b = bytes[pos++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  if (b & 0x40) value -= 2 ** shift;
  return [value, pos];
}

function u32(value) {
  const out = [];
  do {
    let b = value % 128;
    value = Math.floor(value / 128);
    if (value) b |= 0x80;
    out.push(b);
  } while (value);
  return out;
}

/** The sections of a module: `{ id, at, start, end }`: the id byte's position and the payload's range. */
export function sections(bytes) {
  const list = [];
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos];
    const [size, start] = readU32(bytes, pos + 1);
    list.push({ id, at: pos, start, end: start + size });
    pos = start + size;
  }
  return list;
}

// Decodes one instruction at pos: { end, op, sub, memarg?: { align, offset }, value? }.
function decode(bytes, pos) {
  const op = bytes[pos++];
  const ins = { op, sub: -1 };
  const skip = () => {
    [, pos] = readU32(bytes, pos);
  };
  const memarg = () => {
    let align;
    let offset;
    [align, pos] = readU32(bytes, pos);
    [offset, pos] = readU32(bytes, pos);
    ins.memarg = { align, offset };
  };
  if (op === 0x02 || op === 0x03 || op === 0x04) {
    pos++; // block type: a value type or 0x40 (clang emits no type-index block types here)
  } else if ([0x00, 0x01, 0x05, 0x0b, 0x0f, 0x1a, 0x1b].includes(op)) {
    // no immediates
  } else if (op === 0x0c || op === 0x0d || op === 0x10 || (op >= 0x20 && op <= 0x24)) {
    skip();
  } else if (op === 0x0e) {
    let n;
    [n, pos] = readU32(bytes, pos);
    for (let i = 0; i <= n; i++) skip();
  } else if (op >= 0x28 && op <= 0x3e) {
    memarg();
  } else if (op === 0x3f || op === 0x40) {
    pos++;
  } else if (op === 0x41) {
    [ins.value, pos] = readS32(bytes, pos);
  } else if (op === 0x42) {
    [, pos] = readS32(bytes, pos);
  } else if (op === 0x43) {
    pos += 4;
  } else if (op === 0x44) {
    pos += 8;
  } else if (op >= 0x45 && op <= 0xc4) {
    // numeric, no immediates
  } else if (op === 0xfc) {
    [ins.sub, pos] = readU32(bytes, pos);
    const s = ins.sub;
    if (s <= 7) {
      // saturating truncations
    } else if (s === 8) {
      skip();
      pos++;
    } else if (s === 9) skip();
    else if (s === 10) pos += 2;
    else if (s === 11) pos++;
    else throw new Error(`wasm peephole: unknown opcode 0xfc ${s}`);
  } else if (op === 0xfd) {
    [ins.sub, pos] = readU32(bytes, pos);
    const s = ins.sub;
    if (s <= 11 || s === 92 || s === 93) memarg();
    else if (s >= 84 && s <= 91) {
      memarg();
      pos++; // lane
    } else if (s === 12 || s === 13) pos += 16;
    else if (s >= 21 && s <= 34) pos++;
    else if (s > 0xff) throw new Error(`wasm peephole: unexpected simd opcode ${s}`);
  } else if (op === 0xfe) {
    // threads proposal: atomic.fence has one zero byte, every other atomic op a memarg
    [ins.sub, pos] = readU32(bytes, pos);
    if (ins.sub === 3) pos++;
    else memarg();
  } else {
    throw new Error(`wasm peephole: unknown opcode 0x${op.toString(16)}`);
  }
  ins.end = pos;
  return ins;
}

const isLoad = (i) =>
  i.memarg &&
  ((i.op >= 0x28 && i.op <= 0x35) ||
    (i.op === 0xfd && [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 92, 93].includes(i.sub)));
const isStore = (i) => i.memarg && ((i.op >= 0x36 && i.op <= 0x3e) || (i.op === 0xfd && i.sub === 11));

function encodeMemarg(ins, offset) {
  const head = ins.op === 0xfd ? [0xfd, ...u32(ins.sub)] : [ins.op];
  return [...head, ...u32(ins.memarg.align), ...u32(offset)];
}

/**
 * Rewrites every function body; returns the new module bytes and counts of what changed.
 * @param {Uint8Array} bytes
 * @param {{ foldOffsets?: boolean, relaxedMadd?: boolean }} what
 */
export function rewrite(bytes, what) {
  const code = sections(bytes).find((s) => s.id === 10);
  if (!code) throw new Error('wasm peephole: no code section');
  const counts = { folded: 0, relaxed: 0 };
  let pos = code.start;
  let count;
  [count, pos] = readU32(bytes, pos);
  const bodies = [];
  for (let f = 0; f < count; f++) {
    let size;
    [size, pos] = readU32(bytes, pos);
    const end = pos + size;
    const out = [];
    // locals header, copied verbatim
    const headerStart = pos;
    let groups;
    [groups, pos] = readU32(bytes, pos);
    for (let g = 0; g < groups; g++) {
      [, pos] = readU32(bytes, pos);
      pos++;
    }
    out.push(...bytes.subarray(headerStart, pos));
    // emitted: [{ ins, bytes }] so a later load/store can take back the i32.const + i32.add before it
    const emitted = [];
    while (pos < end) {
      const start = pos;
      const ins = decode(bytes, pos);
      pos = ins.end;
      let enc = Array.from(bytes.subarray(start, ins.end));
      if (what.relaxedMadd && ins.op === 0xfd && ins.sub === 0xaf) {
        enc = [0xfd, ...u32(0x105)];
        counts.relaxed++;
      }
      if (what.foldOffsets && (isLoad(ins) || isStore(ins))) {
        // load:  i32.const C, i32.add, load            -> load offset+C
        // store: i32.const C, i32.add, local.get x, store -> local.get x, store offset+C
        const n = emitted.length;
        const value = isStore(ins) ? emitted[n - 1] : undefined;
        const at = isStore(ins) ? n - 3 : n - 2;
        const c = emitted[at];
        const add = emitted[at + 1];
        const valueOk = !isStore(ins) || (value && value.ins.op === 0x20);
        if (at >= 0 && valueOk && c.ins.op === 0x41 && c.ins.value >= 0 && add.ins.op === 0x6a) {
          const offset = ins.memarg.offset + c.ins.value;
          if (offset < 2 ** 32) {
            emitted.splice(at, 2);
            enc = encodeMemarg(ins, offset);
            counts.folded++;
          }
        }
      }
      emitted.push({ ins, bytes: enc });
    }
    for (const e of emitted) out.push(...e.bytes);
    bodies.push(out);
  }
  const section = [...u32(count)];
  for (const b of bodies) section.push(...u32(b.length), ...b);
  const result = new Uint8Array([
    ...bytes.subarray(0, code.at + 1),
    ...u32(section.length),
    ...section,
    ...bytes.subarray(code.end),
  ]);
  return { bytes: result, counts };
}
