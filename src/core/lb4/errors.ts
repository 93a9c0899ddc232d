// Errors raised by the lb4 codecs and profiles: bad input that no retry can fix.
import { KubeLbError } from '../../shared/errors.ts';

/** A value that the struct (in this Cilium version) cannot hold, or bytes that are not a valid struct. */
export class Lb4CodecError extends KubeLbError {
  readonly struct: string;
  readonly field: string;

  constructor(struct: string, field: string, reason: string) {
    super('LB4_CODEC_INVALID', `${struct}.${field}: ${reason}`, { object: { kind: 'BPFStruct', name: struct, field } });
    this.struct = struct;
    this.field = field;
  }
}
