// Why the speaker refuses to touch the maps. All permanent: the operator must fix the configuration or Cilium.
import { KubeLbError } from '../../shared/errors.ts';

export type DataplaneErrorCode =
  | 'DATAPLANE_MAP_MISSING'
  | 'DATAPLANE_MAP_SHAPE'
  | 'DATAPLANE_VERSION_UNKNOWN'
  | 'DATAPLANE_VERSION_MISMATCH'
  | 'DATAPLANE_MAGLEV_TABLE_SIZE';

export class DataplaneMapError extends KubeLbError {
  readonly path: string;
  readonly reasons: readonly string[];

  constructor(
    code: DataplaneErrorCode,
    path: string,
    message: string,
    reasons: readonly string[] = [],
    cause?: unknown,
  ) {
    super(code, reasons.length ? `${message}: ${reasons.join('; ')}` : message, {
      object: { kind: 'BPFMap', name: path },
      cause,
    });
    this.path = path;
    this.reasons = reasons;
  }
}
