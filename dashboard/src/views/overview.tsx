// The cluster at a glance: nodes with capacity and usage, pods by phase, recent warnings,
// cluster cpu and memory charts (when the metrics API is served).

import { type Obj, describeError } from "../api";
import { useShared } from "../context";
import { useLiveObjects } from "../live";
import { formatBytes, formatCpu, parseQuantity } from "../quantity";
import { parseGvr } from "../resources";
import { objectHref } from "../route";
import { type Usage, UsageSparklines, useMetrics } from "./charts";
import { ResourceTable } from "./table";

const PHASES = ["Running", "Pending", "Succeeded", "Failed", "Unknown"];
const NODES = parseGvr("core/v1/nodes");

function ready(node: Obj): boolean {
  return (node.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === "Ready" && c.status === "True");
}

export function Overview() {
  const { namespace } = useShared();
  const nodes = useLiveObjects("/api/v1/nodes");
  const pods = useLiveObjects(namespace ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods` : "/api/v1/pods");
  const samples = useMetrics("nodes");
  const latest = samples && samples.length > 0 ? samples[samples.length - 1].usage : new Map<string, Usage>();
  const phases = new Map<string, number>();
  for (const pod of pods.items) {
    const phase = pod.metadata.deletionTimestamp ? "Terminating" : pod.status?.phase ?? "Unknown";
    phases.set(phase, (phases.get(phase) ?? 0) + 1);
  }
  return (
    <section class="overview">
      <h2>Overview</h2>
      <div class="cards">
        <div class="card" data-testid="pods-by-phase">
          <h3>Pods {namespace ? `in ${namespace}` : ""}</h3>
          {pods.error ? <p class="error">{describeError(pods.error)}</p> : (
            <ul class="phases">
              {[...new Set([...PHASES, ...phases.keys()])].map((p) => (
                <li key={p} class={`phase ${p.toLowerCase()}`}><strong>{phases.get(p) ?? 0}</strong> {p}</li>
              ))}
            </ul>
          )}
        </div>
        {samples !== null && (
          <div class="card">
            <h3>Cluster usage</h3>
            <UsageSparklines samples={samples} />
          </div>
        )}
      </div>
      <h3>Nodes</h3>
      {nodes.error ? <p class="error">{describeError(nodes.error)}</p> : (
        <div class="table-wrap">
          <table class="resources" data-testid="nodes">
            <thead><tr><th>Name</th><th>Ready</th><th>CPU</th><th>Memory</th><th>Pods</th></tr></thead>
            <tbody>
              {nodes.items.map((n) => {
                const capacity = n.status?.capacity ?? {};
                const cpu = parseQuantity(capacity.cpu), memory = parseQuantity(capacity.memory);
                const used = latest.get(n.metadata.name);
                return (
                  <tr key={n.metadata.name}>
                    <td><a href={objectHref(NODES, "", n.metadata.name)}>{n.metadata.name}</a></td>
                    <td>{ready(n) ? "Ready" : "NotReady"}</td>
                    <td><Meter used={used?.cpu} total={cpu} format={formatCpu} /></td>
                    <td><Meter used={used?.memory} total={memory} format={formatBytes} /></td>
                    <td>{capacity.pods ?? ""}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <h3>Recent warnings</h3>
      <ResourceTable gvr={parseGvr("core/v1/events")} namespace={namespace} testId="warnings"
                     params={new URLSearchParams({ fieldSelector: "type=Warning" })} />
    </section>
  );
}

function Meter({ used, total, format }: { used?: number; total: number; format: (n: number) => string }) {
  if (used === undefined) return <span>{format(total)}</span>;
  const percent = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  return (
    <span class="meter" title={`${format(used)} of ${format(total)}`}>
      <span class="bar"><span style={{ width: `${percent}%` }} /></span>
      {format(used)} / {format(total)}
    </span>
  );
}
