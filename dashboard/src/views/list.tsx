// A list page of any resource: name filter, label selector, the live table.

import { useState } from "preact/hooks";
import { useShared } from "../context";
import { type Gvr, NAV, gvrKey } from "../resources";
import { ResourceTable, useResourceInfo } from "./table";

export function ListView({ gvr }: { gvr: Gvr }) {
  const { namespace } = useShared();
  const { info } = useResourceInfo(gvr);
  const [filter, setFilter] = useState("");
  const [selector, setSelector] = useState("");
  const [applied, setApplied] = useState("");
  const title = NAV.flatMap(([, e]) => e).find((e) => gvrKey(e.gvr) === gvrKey(gvr))?.title
    ?? info?.kind ?? gvr.resource;
  const params = new URLSearchParams(applied ? { labelSelector: applied } : {});
  return (
    <section>
      <h2>{title} {info?.namespaced && <small>{namespace ? `in ${namespace}` : "in all namespaces"}</small>}</h2>
      <div class="filters">
        <input type="search" placeholder="Filter by name" aria-label="Filter by name" value={filter}
               onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        <form onSubmit={(e) => { e.preventDefault(); setApplied(selector.trim()); }}>
          <input type="text" placeholder="Label selector, e.g. app=web" aria-label="Label selector"
                 value={selector} onInput={(e) => setSelector((e.target as HTMLInputElement).value)} />
          <button type="submit">Apply</button>
        </form>
      </div>
      <ResourceTable gvr={gvr} namespace={info?.namespaced ? namespace : ""} params={params}
                     filter={filter} testId="list" />
    </section>
  );
}
