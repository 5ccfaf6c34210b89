// Uniform buffer layouts built from a field list, so no kernel counts byte offsets by hand.
// WGSL alignment rules (https://www.w3.org/TR/WGSL/#alignment-and-size): scalars align to 4,
// vec4 and arrays of vec4 to 16; a uniform struct's size rounds up to 16.
import { describeValue } from '../../describeValue.js';

/** Field types a uniform struct may hold. `shape` is 8 u32 values (a shape or strides up to rank 8). */
export type UniformType = 'u32' | 'i32' | 'f32' | 'vec4<u32>' | 'vec4<i32>' | 'vec4<f32>' | 'shape';

const SIZE: Record<UniformType, number> = {
  u32: 4,
  i32: 4,
  f32: 4,
  'vec4<u32>': 16,
  'vec4<i32>': 16,
  'vec4<f32>': 16,
  shape: 32,
};
const ALIGN: Record<UniformType, number> = { ...SIZE, shape: 16 };
const WGSL_TYPE: Record<UniformType, string> = {
  u32: 'u32',
  i32: 'i32',
  f32: 'f32',
  'vec4<u32>': 'vec4<u32>',
  'vec4<i32>': 'vec4<i32>',
  'vec4<f32>': 'vec4<f32>',
  shape: 'array<vec4<u32>, 2>',
};

type Kind = 'u32' | 'i32' | 'f32';
/** How each field's values are stored (a shape holds u32 values). */
const KIND: Record<UniformType, Kind> = {
  u32: 'u32',
  i32: 'i32',
  f32: 'f32',
  'vec4<u32>': 'u32',
  'vec4<i32>': 'i32',
  'vec4<f32>': 'f32',
  shape: 'u32',
};

/** Values for a layout's fields: a number for scalars, an array for vectors and shapes. */
export type UniformValues<F extends Record<string, UniformType>> = {
  [K in keyof F]: F[K] extends 'u32' | 'i32' | 'f32' ? number : readonly number[];
};

/** Throws naming uniformLayout unless `fields` is an object of field names to {@link UniformType}s. */
function checkFields(fields: unknown): void {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new TypeError(
      `uniformLayout: fields must be an object of field names to types, e.g. { M: 'u32' }, got ${describeValue(fields)}`,
    );
  }
  for (const [name, type] of Object.entries(fields)) {
    // An unknown type would give the layout NaN offsets, found only when a kernel misreads them.
    if (typeof type !== 'string' || !Object.hasOwn(SIZE, type)) {
      throw new TypeError(
        `uniformLayout: field ${JSON.stringify(name)} has type ${describeValue(type)}; expected one of ${Object.keys(SIZE).join(', ')}`,
      );
    }
  }
}

/**
 * A uniform struct layout: its WGSL declaration and a packer for values.
 *
 * @example
 * ```ts
 * const params = uniformLayout({ M: 'u32', N: 'u32', alpha: 'f32' });
 * const code = `${params.wgsl('Params')} @group(0) @binding(2) var<uniform> p: Params; ...`;
 * ctx.dispatch(pipeline, [a, out], params.pack({ M: 4, N: 8, alpha: 1 }), [1]);
 * ```
 */
export class UniformLayout<F extends Record<string, UniformType>> {
  readonly byteLength: number;
  // Per field, resolved once: pack() runs on every dispatch of every kernel.
  readonly #fields: { name: string; type: UniformType; offset: number; count: number; kind: Kind }[] = [];

  constructor(readonly fields: F) {
    checkFields(fields);
    let offset = 0;
    for (const [name, type] of Object.entries(fields)) {
      const align = ALIGN[type];
      offset = Math.ceil(offset / align) * align;
      this.#fields.push({ name, type, offset, count: SIZE[type] / 4, kind: KIND[type] });
      offset += SIZE[type];
    }
    this.byteLength = Math.max(16, Math.ceil(offset / 16) * 16);
  }

  /** `struct <name> { ... }` in WGSL. */
  wgsl(name: string): string {
    const body = this.#fields.map((f) => `  ${f.name}: ${WGSL_TYPE[f.type]},`).join('\n');
    return `struct ${name} {\n${body}\n}\n`;
  }

  /**
   * Packs values into a fresh buffer of {@link UniformLayout.byteLength} bytes. Vectors and shapes
   * may be shorter than their field; the rest is zero.
   */
  pack(values: UniformValues<F>): Uint8Array {
    const bytes = new Uint8Array(this.byteLength);
    const view = new DataView(bytes.buffer);
    for (const { name, offset, count, kind } of this.#fields) {
      const v = (values as Record<string, number | readonly number[]>)[name];
      if (typeof v === 'number') {
        write(view, kind, offset, v);
        continue;
      }
      if (v === undefined) throw new Error(`uniform field ${name} has no value`);
      if (v.length > count) throw new Error(`uniform field ${name} holds ${count} values, got ${v.length}`);
      for (let i = 0; i < v.length; i++) write(view, kind, offset + 4 * i, v[i]!);
    }
    return bytes;
  }
}

function write(view: DataView, kind: Kind, offset: number, x: number): void {
  if (kind === 'f32') view.setFloat32(offset, x, true);
  else if (kind === 'i32') view.setInt32(offset, x, true);
  else view.setUint32(offset, x >>> 0, true);
}

/**
 * Creates a {@link UniformLayout}.
 *
 * @example
 * ```ts
 * const params = uniformLayout({ size: 'u32', shape: 'shape' });
 * ```
 */
export function uniformLayout<F extends Record<string, UniformType>>(fields: F): UniformLayout<F> {
  return new UniformLayout(fields);
}

/** WGSL helper reading dimension `i` of a `shape` field. */
export const WGSL_SHAPE_AT =
  'fn shapeAt(s: array<vec4<u32>, 2>, i: u32) -> u32 { return s[i / 4u][i % 4u]; }\n';
