// A detail page of any object: summary (labels, owners, conditions, kind-specific parts),
// owned objects and events, all live; actions (scale, restart, delete) and the YAML, logs
// and exec tabs.

import { useEffect, useState } from "preact/hooks";
import { type Obj, describeError, request } from "../api";
import { useShared } from "../context";
import { useLiveObject } from "../live";
import { type Gvr, OWNED, RESTARTABLE, SCALABLE, apiPath, parseGvr, resourceOfKind } from "../resources";
import { listHref, objectHref } from "../route";
import { UsageCharts } from "./charts";
import { ExecTerminal } from "./exec";
import { LogViewer } from "./logs";
import { ResourceTable, useResourceInfo } from "./table";
import { YamlEditor } from "./yaml";

type Props = { gvr: Gvr; namespace: string; name: string; tab: string };

export function ObjectView({ gvr, namespace, name, tab }: Props) {
  const { info, error: infoError } = useResourceInfo(gvr);
  const collection = info === null ? null : apiPath(gvr, info.namespaced, namespace);
  const { object, error, loaded } = useLiveObject(collection, name);
  const [deleted, setDeleted] = useState(false);
  const shared = useShared();
  useEffect(() => {
    // The picker follows the object's namespace (unless all namespaces are shown).
    if (namespace && shared.namespace && shared.namespace !== namespace) shared.setNamespace(namespace);
  }, [namespace]);
  if (infoError || error) return <p class="error" role="alert">{describeError(infoError ?? error)}</p>;
  if (!loaded || info === null) return <p class="loading">Loading…</p>;
  if (object === null) {
    return (
      <section>
        <h2>{name}</h2>
        <p class="gone" data-testid="gone">{deleted ? "Deleted." : "This object does not exist (any more)."}</p>
        <a href={listHref(gvr)}>Back to the list</a>
      </section>
    );
  }
  const path = apiPath(gvr, info.namespaced, namespace, name);
  const isPod = info.kind === "Pod";
  const tabs = ["", "yaml", ...(isPod ? ["logs", "exec"] : [])];
  const label = (t: string) => ({ "": "Summary", yaml: "YAML", logs: "Logs", exec: "Exec" })[t];
  return (
    <section>
      <h2><small>{info.kind}</small> {name} {namespace && <small>in {namespace}</small>}</h2>
      <Actions object={object} kind={info.kind} path={path} gvr={gvr} onDeleted={() => setDeleted(true)} />
      <nav class="tabs">
        {tabs.map((t) => (
          <a key={t} href={objectHref(gvr, namespace, name, t)} class={tab === t ? "active" : ""}>{label(t)}</a>
        ))}
      </nav>
      {tab === "" && <Summary object={object} kind={info.kind} gvr={gvr} namespace={namespace} />}
      {tab === "yaml" && <YamlEditor path={path} object={object} />}
      {tab === "logs" && isPod && <LogViewer path={path} pod={object} />}
      {tab === "exec" && isPod && <ExecTerminal path={path} pod={object} />}
    </section>
  );
}

function Actions({ object, kind, path, gvr, onDeleted }: {
  object: Obj; kind: string; path: string; gvr: Gvr; onDeleted: () => void;
}) {
  const { notify } = useShared();
  const [replicas, setReplicas] = useState<string>(String(object.spec?.replicas ?? 0));
  const [confirming, setConfirming] = useState(false);
  const act = async (what: string, step: () => Promise<unknown>) => {
    try {
      await step();
      notify(what);
    } catch (err) {
      notify(describeError(err), "error");
    }
  };
  const merge = "application/merge-patch+json";
  return (
    <div class="actions">
      {SCALABLE.has(kind) && (
        <form class="scale" onSubmit={(e) => {
          e.preventDefault();
          void act(`Scaled ${object.metadata.name} to ${replicas}`, () => request(`${path}/scale`, {
            method: "PATCH", contentType: merge, body: { spec: { replicas: Number(replicas) } },
          }));
        }}>
          <label>Replicas <input type="number" min={0} aria-label="Replicas" value={replicas}
                                 onInput={(e) => setReplicas((e.target as HTMLInputElement).value)} /></label>
          <button type="submit">Scale</button>
        </form>
      )}
      {RESTARTABLE.has(kind) && (
        <button onClick={() => act(`Restarting ${object.metadata.name}`, () => request(path, {
          method: "PATCH", contentType: merge,
          body: { spec: { template: { metadata: { annotations: {
            "kubectl.kubernetes.io/restartedAt": new Date().toISOString() } } } } },
        }))}>Restart</button>
      )}
      {gvr.resource === "customresourcedefinitions" && (
        <a class="button" href={listHref(crdGvr(object))}>Objects</a>
      )}
      {!confirming && <button class="danger" onClick={() => setConfirming(true)}>Delete</button>}
      {confirming && (
        <span class="confirm">
          Delete {object.metadata.name}?
          <button class="danger" onClick={() => {
            setConfirming(false);
            void act(`Deleted ${object.metadata.name}`, async () => {
              await request(path, { method: "DELETE" });
              onDeleted();
            });
          }}>Yes, delete</button>
          <button onClick={() => setConfirming(false)}>Cancel</button>
        </span>
      )}
    </div>
  );
}

function crdGvr(crd: Obj): Gvr {
  const version = (crd.spec.versions as { name: string; storage: boolean }[]).find((v) => v.storage)?.name
    ?? crd.spec.versions[0].name;
  return { group: crd.spec.group, version, resource: crd.spec.names.plural };
}

function Summary({ object, kind, gvr, namespace }: { object: Obj; kind: string; gvr: Gvr; namespace: string }) {
  const meta = object.metadata;
  const conditions: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[] =
    object.status?.conditions ?? [];
  const selector = object.spec?.selector?.matchLabels as Record<string, string> | undefined;
  return (
    <div class="summary">
      <dl class="meta">
        {meta.namespace && <><dt>Namespace</dt><dd>{meta.namespace}</dd></>}
        <dt>Created</dt><dd>{meta.creationTimestamp}</dd>
        <dt>Labels</dt><dd>{Object.entries(meta.labels ?? {}).map(([k, v]) => <span key={k} class="chip">{k}={v}</span>)}</dd>
        {meta.ownerReferences?.length ? (
          <><dt>Owners</dt><dd>{meta.ownerReferences.map((o) => <OwnerLink key={o.uid} owner={o} namespace={namespace} />)}</dd></>
        ) : null}
        {SCALABLE.has(kind) && (
          <><dt>Replicas</dt><dd data-testid="replicas">
            {object.status?.readyReplicas ?? 0} ready / {object.status?.replicas ?? 0} current / {object.spec?.replicas ?? 0} desired
          </dd></>
        )}
      </dl>
      {conditions.length > 0 && (
        <>
          <h3>Conditions</h3>
          <div class="table-wrap"><table class="resources">
            <thead><tr><th>Type</th><th>Status</th><th>Reason</th><th>Message</th><th>Since</th></tr></thead>
            <tbody>{conditions.map((c) => (
              <tr key={c.type}><td>{c.type}</td><td>{c.status}</td><td>{c.reason}</td><td>{c.message}</td><td>{c.lastTransitionTime}</td></tr>
            ))}</tbody>
          </table></div>
        </>
      )}
      {kind === "Pod" && <PodInfo pod={object} />}
      {kind === "Node" && (
        <div>
          <h3>Pods on this node</h3>
          <ResourceTable gvr={parseGvr("core/v1/pods")} namespace="" testId="node-pods"
                         params={new URLSearchParams({ fieldSelector: `spec.nodeName=${meta.name}` })} />
        </div>
      )}
      {kind === "Secret" && <SecretData object={object} />}
      {kind === "ConfigMap" && <ConfigMapData object={object} />}
      {(kind === "Pod" || kind === "Node") && <UsageCharts kind={kind} namespace={namespace} name={meta.name} />}
      {(OWNED[kind] ?? []).map((key) => (
        <div key={key}>
          <h3>Owns: {parseGvr(key).resource}</h3>
          <ResourceTable gvr={parseGvr(key)} namespace={namespace} ownerUid={meta.uid} testId={`owned-${parseGvr(key).resource}`} />
        </div>
      ))}
      {kind === "Deployment" && selector && (
        <div>
          <h3>Pods</h3>
          <ResourceTable gvr={parseGvr("core/v1/pods")} namespace={namespace} testId="pods"
                         params={new URLSearchParams({ labelSelector: Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(",") })} />
        </div>
      )}
      {gvr.resource !== "events" && meta.uid && (
        <div>
          <h3>Events</h3>
          <ResourceTable gvr={parseGvr("core/v1/events")} namespace={namespace} testId="events"
                         params={new URLSearchParams({ fieldSelector: `involvedObject.uid=${meta.uid}` })} />
        </div>
      )}
    </div>
  );
}

type ContainerStatus = {
  name: string; ready: boolean; restartCount: number; image: string;
  state?: Record<string, { reason?: string; exitCode?: number }>;
};

function PodInfo({ pod }: { pod: Obj }) {
  const statuses = new Map<string, ContainerStatus>(
    (pod.status?.containerStatuses ?? []).map((c: ContainerStatus) => [c.name, c]));
  const node: string | undefined = pod.spec?.nodeName;
  return (
    <>
      <dl class="meta">
        <dt>Phase</dt><dd>{pod.status?.phase ?? "Unknown"}</dd>
        <dt>Node</dt><dd>{node ? <a href={objectHref(parseGvr("core/v1/nodes"), "", node)}>{node}</a> : "not scheduled"}</dd>
        <dt>Pod IP</dt><dd>{pod.status?.podIP ?? ""}</dd>
        <dt>QoS class</dt><dd>{pod.status?.qosClass ?? ""}</dd>
      </dl>
      <h3>Containers</h3>
      <div class="table-wrap"><table class="resources" data-testid="containers">
        <thead><tr><th>Name</th><th>Image</th><th>Ready</th><th>Restarts</th><th>State</th></tr></thead>
        <tbody>{(pod.spec?.containers ?? []).map((c: { name: string; image: string }) => {
          const status = statuses.get(c.name);
          const [state, detail] = Object.entries(status?.state ?? {})[0] ?? ["waiting", {}];
          return (
            <tr key={c.name}>
              <td>{c.name}</td><td>{c.image}</td><td>{status?.ready ? "yes" : "no"}</td>
              <td>{status?.restartCount ?? 0}</td>
              <td>{state}{detail.reason ? ` (${detail.reason})` : ""}</td>
            </tr>
          );
        })}</tbody>
      </table></div>
    </>
  );
}

function OwnerLink({ owner, namespace }: { owner: { apiVersion: string; kind: string; name: string }; namespace: string }) {
  const [href, setHref] = useState<string | null>(null);
  useEffect(() => {
    resourceOfKind(owner.apiVersion, owner.kind)
      .then(({ gvr }) => setHref(objectHref(gvr, namespace, owner.name)))
      .catch(() => undefined);
  }, [owner.apiVersion, owner.kind, owner.name, namespace]);
  return <a class="chip" href={href ?? undefined}>{owner.kind}/{owner.name}</a>;
}

function SecretData({ object }: { object: Obj }) {
  const [shown, setShown] = useState<Set<string>>(new Set());
  const data = (object.data ?? {}) as Record<string, string>;
  const decode = (v: string) => {
    try { return new TextDecoder().decode(Uint8Array.from(atob(v), (c) => c.charCodeAt(0))); } catch { return v; }
  };
  return (
    <>
      <h3>Data</h3>
      <dl class="data">
        {Object.entries(data).map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>
              {shown.has(k) ? <pre data-testid={`secret-${k}`}>{decode(v)}</pre> : <span class="hidden-value">••••••</span>}
              <button class="link" onClick={() => {
                const next = new Set(shown);
                if (next.has(k)) next.delete(k); else next.add(k);
                setShown(next);
              }}>{shown.has(k) ? "Hide" : "Show"}</button>
            </dd>
          </div>
        ))}
      </dl>
    </>
  );
}

function ConfigMapData({ object }: { object: Obj }) {
  const data = (object.data ?? {}) as Record<string, string>;
  return (
    <>
      <h3>Data</h3>
      <dl class="data">
        {Object.entries(data).map(([k, v]) => <div key={k}><dt>{k}</dt><dd><pre>{v}</pre></dd></div>)}
      </dl>
    </>
  );
}
