// Cluster-wide LISTs in pages (limit/continue), as client-go's pager does. One unpaged LIST of 50,000 claims is
// one response of hundreds of megabytes held in memory at once, parsed in one go (blocking the event loop), and
// a long request the apiserver has to buffer too. In pages, each page is trimmed (see trim.ts) before the next
// is fetched, so the untrimmed objects of only one page are alive at a time.
//
// All pages come from the snapshot of the first (the apiserver guarantees it), so the result is a consistent
// list whose resourceVersion a watch can start from. A continue token expires when etcd compacts the snapshot's
// revision (every 5 minutes by default): the apiserver answers 410 Gone and the list starts over from the first
// page, since a consistent list cannot be stitched from two snapshots.
import { apiStatus } from './client.ts';

export interface ListPage {
  limit: number;
  /** The previous page's metadata.continue; unset for the first page. */
  continue?: string;
}

export interface PagedList<T> {
  items: T[];
  /**
   * `continue` as the JSON has it (CustomObjectsApi returns the JSON as it came); client-node's typed lists
   * (V1ListMeta) rename it `_continue`.
   */
  metadata?: { resourceVersion?: string; continue?: string; _continue?: string };
}

export interface ListAllOptions<T> {
  /** Objects per page; 0 lists everything in one request. */
  pageSize: number;
  /** Applied to every item as its page arrives (trimming): the untrimmed page is garbage before the next. */
  transform?: (item: T) => T;
  /**
   * Restarts after an expired continue token before one unpaged LIST is made instead (client-go's pager falls
   * back to a full list the same way); a list that keeps outliving its snapshot would otherwise never end.
   */
  maxRestarts?: number;
  /** Told about each restart (to log it). */
  onRestart?: (restarts: number, err: unknown) => void;
}

export const DEFAULT_PAGE_SIZE = 500;

/** Every page of a LIST, concatenated, with the resourceVersion of the snapshot they came from. */
export async function listAllPages<T>(
  fetchPage: (page: ListPage) => Promise<PagedList<T>>,
  opts: ListAllOptions<T>,
): Promise<{ items: T[]; metadata: { resourceVersion?: string } }> {
  if (!Number.isInteger(opts.pageSize) || opts.pageSize < 0)
    throw new RangeError(`pageSize must be an integer >= 0, got ${opts.pageSize}`);
  const maxRestarts = opts.maxRestarts ?? 3;
  const transform = opts.transform ?? ((o: T) => o);
  for (let restarts = 0; ; restarts++) {
    // After maxRestarts expired tokens, one request: limit 0 asks the apiserver for everything.
    const limit = restarts > maxRestarts ? 0 : opts.pageSize;
    const items: T[] = [];
    let token: string | undefined;
    let resourceVersion: string | undefined;
    try {
      do {
        const page = await fetchPage(token === undefined ? { limit } : { limit, continue: token });
        for (const item of page.items) items.push(transform(item));
        resourceVersion = page.metadata?.resourceVersion;
        token = page.metadata?.continue || page.metadata?._continue || undefined;
        // A server that ignores limit answers everything and no token: the loop ends either way.
      } while (token !== undefined && limit > 0);
      return { items, metadata: resourceVersion === undefined ? {} : { resourceVersion } };
    } catch (err) {
      // 410 on a first page is no expired token (there was none): not ours to handle.
      if (apiStatus(err) !== 410 || token === undefined || limit === 0) throw err;
      opts.onRestart?.(restarts + 1, err);
    }
  }
}
