// What the dashboard knows about resources: a resource is named by group, version and plural
// (`apps/v1/deployments`, `core/v1/pods`); whether it is namespaced, its kind and verbs come
// from the server's discovery, so custom resources work the same as built-in ones.

import { request } from "./api";

export type Gvr = { group: string; version: string; resource: string };

export type ApiResource = {
  name: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
};

export const gvrKey = (g: Gvr): string => `${g.group || "core"}/${g.version}/${g.resource}`;

export function parseGvr(key: string): Gvr {
  const [group, version, resource] = key.split("/");
  return { group: group === "core" ? "" : group, version, resource };
}

export const groupVersion = (g: Gvr): string => (g.group ? `${g.group}/${g.version}` : g.version);

function prefix(g: Gvr): string {
  return g.group ? `/apis/${g.group}/${g.version}` : `/api/${g.version}`;
}

// The API path of a collection (in `namespace` when namespaced) or of one object.
export function apiPath(g: Gvr, namespaced: boolean, namespace: string, name?: string): string {
  const ns = namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  const one = name === undefined ? "" : `/${encodeURIComponent(name)}`;
  return `${prefix(g)}${ns}/${g.resource}${one}`;
}

const lists = new Map<string, Promise<ApiResource[]>>();

// The resources of a group version (discovery), fetched once.
export function discover(group: string, version: string): Promise<ApiResource[]> {
  const key = `${group}/${version}`;
  let found = lists.get(key);
  if (found === undefined) {
    const path = group ? `/apis/${group}/${version}` : `/api/${version}`;
    found = request<{ resources: ApiResource[] }>(path).then((r) => r.resources);
    found.catch(() => lists.delete(key));
    lists.set(key, found);
  }
  return found;
}

export async function describe(g: Gvr): Promise<ApiResource> {
  const found = (await discover(g.group, g.version)).find((r) => r.name === g.resource);
  if (found === undefined) throw new Error(`the server has no resource ${gvrKey(g)}`);
  return found;
}

// The resource of `kind` in `apiVersion` (for owner links and for applying YAML).
export async function resourceOfKind(apiVersion: string, kind: string): Promise<{ gvr: Gvr; info: ApiResource }> {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const info = (await discover(group, version)).find((r) => r.kind === kind && !r.name.includes("/"));
  if (info === undefined) throw new Error(`the server has no kind ${kind} in ${apiVersion}`);
  return { gvr: { group, version, resource: info.name }, info };
}

export type NavEntry = { title: string; gvr: Gvr };

const entry = (title: string, key: string): NavEntry => ({ title, gvr: parseGvr(key) });

// The sidebar, by section.
export const NAV: [string, NavEntry[]][] = [
  ["Workloads", [
    entry("Deployments", "apps/v1/deployments"),
    entry("StatefulSets", "apps/v1/statefulsets"),
    entry("DaemonSets", "apps/v1/daemonsets"),
    entry("Jobs", "batch/v1/jobs"),
    entry("CronJobs", "batch/v1/cronjobs"),
    entry("Pods", "core/v1/pods"),
    entry("ReplicaSets", "apps/v1/replicasets"),
  ]],
  ["Network", [
    entry("Services", "core/v1/services"),
    entry("Ingresses", "networking.k8s.io/v1/ingresses"),
  ]],
  ["Config", [
    entry("ConfigMaps", "core/v1/configmaps"),
    entry("Secrets", "core/v1/secrets"),
  ]],
  ["Storage", [
    entry("PersistentVolumeClaims", "core/v1/persistentvolumeclaims"),
    entry("PersistentVolumes", "core/v1/persistentvolumes"),
  ]],
  ["Cluster", [
    entry("Nodes", "core/v1/nodes"),
    entry("Namespaces", "core/v1/namespaces"),
    entry("Events", "core/v1/events"),
    entry("CRDs", "apiextensions.k8s.io/v1/customresourcedefinitions"),
  ]],
];

// Kinds that have a `scale` subresource worth a button, and those a rollout restart applies to.
export const SCALABLE = new Set(["Deployment", "StatefulSet", "ReplicaSet"]);
export const RESTARTABLE = new Set(["Deployment", "StatefulSet", "DaemonSet"]);

// What an object of a kind owns, to list under it (matched by owner reference).
export const OWNED: Record<string, string[]> = {
  Deployment: ["apps/v1/replicasets"],
  ReplicaSet: ["core/v1/pods"],
  StatefulSet: ["core/v1/pods"],
  DaemonSet: ["core/v1/pods"],
  Job: ["core/v1/pods"],
  CronJob: ["batch/v1/jobs"],
};
