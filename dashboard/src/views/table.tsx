// A live resource table: the server's Table columns (kubectl's), rows kept current by a
// watch, a name filter; used by the list pages and inside detail pages (owned objects,
// events).

import { useEffect, useState } from "preact/hooks";
import { describeError } from "../api";
import { useLiveTable } from "../live";
import { type ApiResource, type Gvr, apiPath, describe } from "../resources";
import { objectHref } from "../route";

export type TableProps = {
  gvr: Gvr;
  namespace: string;
  params?: URLSearchParams;
  ownerUid?: string;
  filter?: string;
  testId?: string;
};

// Discovery's view of a resource (namespaced, verbs), null while it loads.
export function useResourceInfo(gvr: Gvr): { info: ApiResource | null; error: unknown } {
  const [info, setInfo] = useState<ApiResource | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    describe(gvr).then(setInfo).catch(setError);
  }, [gvr.group, gvr.version, gvr.resource]);
  return { info, error };
}

export function ResourceTable({ gvr, namespace, params, ownerUid, filter = "", testId }: TableProps) {
  const { info, error: infoError } = useResourceInfo(gvr);
  const path = info === null ? null : apiPath(gvr, info.namespaced, namespace);
  const { items, columns, error, loaded } = useLiveTable(path, params);
  if (infoError) return <p class="error" role="alert">{describeError(infoError)}</p>;
  if (error) return <p class="error" role="alert">{describeError(error)}</p>;
  if (!loaded) return <p class="loading">Loading…</p>;
  const shown = columns.filter((c) => c.priority === 0);
  const indexes = shown.map((c) => columns.indexOf(c));
  const allNamespaces = info?.namespaced && !namespace;
  const rows = items
    .filter((r) => !ownerUid || r.object.metadata.ownerReferences?.some((o) => o.uid === ownerUid))
    .filter((r) => !filter || r.object.metadata.name.includes(filter))
    .sort((a, b) => `${a.object.metadata.namespace}/${a.object.metadata.name}`
      .localeCompare(`${b.object.metadata.namespace}/${b.object.metadata.name}`));
  return (
    <div class="table-wrap">
      <table class="resources" data-testid={testId} data-count={rows.length}>
        <thead>
          <tr>
            {allNamespaces && <th>Namespace</th>}
            {shown.map((c) => <th key={c.name} title={c.description}>{c.name}</th>)}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && (
            <tr><td class="empty" colSpan={shown.length + (allNamespaces ? 1 : 0)}>No {gvr.resource}</td></tr>
          )}
          {rows.map((r) => {
            const meta = r.object.metadata;
            return (
              <tr key={meta.uid ?? meta.name} data-name={meta.name}>
                {allNamespaces && <td>{meta.namespace}</td>}
                {indexes.map((i, n) => (
                  <td key={i}>
                    {n === 0
                      ? <a href={objectHref(gvr, meta.namespace, meta.name)}>{String(r.cells[i])}</a>
                      : formatCell(r.cells[i])}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
