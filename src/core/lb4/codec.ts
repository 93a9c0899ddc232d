// The shape every lb4 struct codec has: a fixed size, a writer into a DataView at an offset (so thousands of
// entries can be packed into one batch buffer) and a reader. Range checks live here so each codec states
// its fields' widths once.
import { viewOf } from './bytes.ts';
import { Lb4CodecError } from './errors.ts';

export interface StructCodec<T> {
  /** The C struct this mirrors ("lb4_key"). */
  readonly struct: string;
  readonly size: number;
  write(view: DataView, offset: number, value: T): void;
  read(view: DataView, offset: number): T;
}

export function encode<T>(codec: StructCodec<T>, value: T): Uint8Array {
  const bytes = new Uint8Array(codec.size);
  codec.write(viewOf(bytes), 0, value);
  return bytes;
}

export function decode<T>(codec: StructCodec<T>, bytes: Uint8Array, offset = 0): T {
  if (bytes.length - offset < codec.size) {
    throw new Lb4CodecError(codec.struct, '*', `needs ${codec.size} bytes, got ${bytes.length - offset}`);
  }
  return codec.read(viewOf(bytes), offset);
}

/** Throws unless `value` is an integer that fits in `bits` unsigned bits. */
export function checkUint(struct: string, field: string, value: number, bits: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 2 ** bits - 1) {
    throw new Lb4CodecError(struct, field, `${value} does not fit in ${bits} unsigned bits`);
  }
  return value;
}
