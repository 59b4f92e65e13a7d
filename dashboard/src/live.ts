// Live collections: list, then watch from the list's resourceVersion and apply each event;
// when the server ends a watch (or it fails), list again. No polling.

import { useEffect, useState } from "preact/hooks";
import { ApiError, type Obj, TABLE_ACCEPT, isAbort, request, sleep, watch } from "./api";

type Source<T> = {
  path: string;
  params: URLSearchParams;
  accept: string;
  onList: (body: ListBody<T>) => void;
  onEvent: (type: string, item: T) => void;
  onError: (err: unknown) => void;
};

type ListBody<T> = {
  metadata: { resourceVersion: string };
  items?: T[];
  rows?: T[];
  columnDefinitions?: TableColumn[];
};

async function listWatch<T>(source: Source<T>, signal: AbortSignal): Promise<void> {
  const { path, params, accept } = source;
  while (!signal.aborted) {
    try {
      const list = await request<ListBody<T>>(`${path}?${params}`, { accept, signal });
      source.onList(list);
      await watch<T & { rows?: T[] }>(path, params, list.metadata.resourceVersion, (event) => {
        if (event.type === "BOOKMARK") return;
        // A watch in Table form sends each change as a Table of one row.
        const item = event.object.rows?.[0] ?? event.object;
        source.onEvent(event.type, item);
      }, signal, accept);
      await sleep(200, signal);
    } catch (err) {
      if (isAbort(err) || signal.aborted) return;
      source.onError(err);
      // A refusal (RBAC, a resource that is not there) stays as it is until the view changes.
      if (err instanceof ApiError && [401, 403, 404].includes(err.code)) return;
      await sleep(2000, signal);
    }
  }
}

export type TableColumn = { name: string; type: string; priority: number; description: string };
export type TableRow = { cells: unknown[]; object: Obj };

const uid = (o: Obj): string => o.metadata.uid ?? `${o.metadata.namespace}/${o.metadata.name}`;

function useLive<T>(path: string | null, params: URLSearchParams, accept: string,
                    key: (item: T) => string, onBody?: (body: ListBody<T>) => void) {
  const [items, setItems] = useState<Map<string, T>>(new Map());
  const [error, setError] = useState<unknown>(null);
  const [loaded, setLoaded] = useState(false);
  const query = params.toString();
  useEffect(() => {
    setItems(new Map());
    setError(null);
    setLoaded(false);
    if (path === null) return;
    const controller = new AbortController();
    void listWatch<T>({
      path, params: new URLSearchParams(query), accept,
      onList: (body) => {
        onBody?.(body);
        setItems(new Map((body.items ?? body.rows ?? []).map((i) => [key(i), i])));
        setError(null);
        setLoaded(true);
      },
      onEvent: (type, item) => setItems((current) => {
        const next = new Map(current);
        if (type === "DELETED") next.delete(key(item));
        else next.set(key(item), item);
        return next;
      }),
      onError: setError,
    }, controller.signal);
    return () => controller.abort();
  }, [path, query, accept]);
  return { items: [...items.values()], error, loaded };
}

// Live objects of a collection.
export function useLiveObjects(path: string | null, params = new URLSearchParams()) {
  return useLive<Obj>(path, params, "application/json", uid);
}

// A live Table of a collection: the server's columns (kubectl's), its rows kept current.
export function useLiveTable(path: string | null, params = new URLSearchParams()) {
  const [columns, setColumns] = useState<TableColumn[]>([]);
  // The column definitions come with the list (a watch's rows carry none).
  const live = useLive<TableRow>(path, params, TABLE_ACCEPT, (row) => uid(row.object),
                                 (body) => setColumns(body.columnDefinitions ?? []));
  return { ...live, columns };
}

// One live object (a watch of its collection by name).
export function useLiveObject(collection: string | null, name: string) {
  const params = new URLSearchParams({ fieldSelector: `metadata.name=${name}` });
  const live = useLiveObjects(collection, params);
  return { object: live.items[0] ?? null, error: live.error, loaded: live.loaded };
}
