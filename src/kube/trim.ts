// Trimming objects before they enter an informer's cache, as controller-runtime's cache transform
// (TransformStripManagedFields) does. managedFields is bookkeeping for server-side apply: every manager that
// wrote an object adds an entry with a tree of the fields it owns, often larger than the object itself, and no
// controller of kube-lb reads it. kubectl's last-applied-configuration annotation is a second copy of the
// object as text. Dropping both roughly halves a cached claim.
//
// Safe for writes: the cache is never written back whole. kube-lb writes status with server-side apply of
// only its own fields (src/allocator/status-writer.ts) and read-modify-write updates re-read the object first
// (update.ts), so what is trimmed here never reaches the apiserver and never drops anything there.
//
// The object is fresh from the wire and nobody else holds it, so it is changed in place; metadata is rebuilt
// rather than `delete`d from, because deleting a property turns a V8 object into a slower and larger
// dictionary-mode object.

export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

interface Trimmable {
  metadata?: { managedFields?: unknown; annotations?: Record<string, string> } | undefined;
}

/** Drops metadata.managedFields and the last-applied-configuration annotation. */
export function stripManagedFields<T extends Trimmable>(obj: T): T {
  const metadata = obj.metadata;
  if (!metadata) return obj;
  const annotations = metadata.annotations;
  const hasLastApplied = annotations !== undefined && LAST_APPLIED in annotations;
  if (metadata.managedFields === undefined && !hasLastApplied) return obj;
  const { managedFields: _managed, annotations: _annotations, ...rest } = metadata;
  let kept: Record<string, string> | undefined = annotations;
  if (annotations && hasLastApplied) {
    const { [LAST_APPLIED]: _lastApplied, ...others } = annotations;
    kept = Object.keys(others).length > 0 ? others : undefined;
  }
  obj.metadata = kept === undefined ? rest : { ...rest, annotations: kept };
  return obj;
}
