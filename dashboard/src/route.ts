// Hash routes, so the static files need no server-side routing:
//   #/overview, #/list/<group>/<version>/<resource>, #/apply,
//   #/object/<group>/<version>/<resource>/<namespace or ->/<name>[/yaml|logs|exec].

import { useEffect, useState } from "preact/hooks";
import { type Gvr, gvrKey, parseGvr } from "./resources";

export type Route =
  | { view: "overview" }
  | { view: "apply" }
  | { view: "list"; gvr: Gvr }
  | { view: "object"; gvr: Gvr; namespace: string; name: string; tab: string };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "list" && parts.length >= 4) {
    return { view: "list", gvr: parseGvr(parts.slice(1, 4).join("/")) };
  }
  if (parts[0] === "object" && parts.length >= 6) {
    return {
      view: "object", gvr: parseGvr(parts.slice(1, 4).join("/")),
      namespace: parts[4] === "-" ? "" : parts[4], name: parts[5], tab: parts[6] ?? "",
    };
  }
  if (parts[0] === "apply") return { view: "apply" };
  return { view: "overview" };
}

export const listHref = (gvr: Gvr): string => `#/list/${gvrKey(gvr)}`;

export function objectHref(gvr: Gvr, namespace: string | undefined, name: string, tab = ""): string {
  const ns = namespace ? encodeURIComponent(namespace) : "-";
  return `#/object/${gvrKey(gvr)}/${ns}/${encodeURIComponent(name)}${tab ? `/${tab}` : ""}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}
