// The shell: login gate, header (namespace picker, user), sidebar, the routed view, notices.

import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import { getToken, onUnauthorized, setToken } from "./api";
import { type Notice, type Shared, SharedContext, useShared } from "./context";
import { useLiveObjects } from "./live";
import { NAV, gvrKey } from "./resources";
import { listHref, useRoute } from "./route";
import { ApplyView } from "./views/yaml";
import { ListView } from "./views/list";
import { Login, whoami } from "./views/login";
import { ObjectView } from "./views/object";
import { Overview } from "./views/overview";

const NS_KEY = "kyb.dashboard.namespace";

export function App() {
  const [user, setUser] = useState<string | null>(null);
  const [checking, setChecking] = useState(getToken() !== null);
  useEffect(() => {
    onUnauthorized(() => { setToken(null); setUser(null); });
    if (getToken() === null) return;
    whoami().then(setUser).catch(() => setToken(null)).finally(() => setChecking(false));
  }, []);
  if (checking) return <p class="loading">Loading…</p>;
  if (user === null) return <Login onLogin={(name) => setUser(name)} />;
  return <Shell user={user} onLogout={() => { setToken(null); setUser(null); }} />;
}

function Shell({ user, onLogout }: { user: string; onLogout: () => void }) {
  const route = useRoute();
  const [namespace, setNs] = useState(() => sessionStorage.getItem(NS_KEY) ?? "default");
  const [notices, setNotices] = useState<Notice[]>([]);
  const [menu, setMenu] = useState(false);
  const setNamespace = useCallback((ns: string) => {
    sessionStorage.setItem(NS_KEY, ns);
    setNs(ns);
  }, []);
  const notify = useCallback((text: string, level: Notice["level"] = "info") => {
    const id = Date.now() + Math.random();
    setNotices((n) => [...n, { id, text, level }]);
    setTimeout(() => setNotices((n) => n.filter((x) => x.id !== id)), level === "error" ? 15000 : 5000);
  }, []);
  const shared: Shared = useMemo(() => ({ namespace, setNamespace, notify, user }),
                                 [namespace, setNamespace, notify, user]);
  useEffect(() => setMenu(false), [route]);
  const current = route.view === "list" || route.view === "object" ? gvrKey(route.gvr) : route.view;
  return (
    <SharedContext.Provider value={shared}>
      <header class="top">
        <button class="menu" aria-label="Menu" onClick={() => setMenu(!menu)}>☰</button>
        <a class="brand" href="#/overview">kybernetes</a>
        <NamespacePicker />
        <span class="user" title="Signed in as">{user}</span>
        <button class="link" onClick={onLogout}>Sign out</button>
      </header>
      <div class="body">
        <nav class={menu ? "side open" : "side"}>
          <a href="#/overview" class={current === "overview" ? "active" : ""}>Overview</a>
          {NAV.map(([section, entries]) => (
            <div key={section}>
              <h4>{section}</h4>
              {entries.map((e) => (
                <a key={e.title} href={listHref(e.gvr)} class={current === gvrKey(e.gvr) ? "active" : ""}>{e.title}</a>
              ))}
            </div>
          ))}
          <h4>Create</h4>
          <a href="#/apply" class={current === "apply" ? "active" : ""}>Apply YAML</a>
        </nav>
        <main>
          {route.view === "overview" && <Overview />}
          {route.view === "apply" && <ApplyView />}
          {route.view === "list" && <ListView key={gvrKey(route.gvr)} gvr={route.gvr} />}
          {route.view === "object" && (
            <ObjectView key={`${gvrKey(route.gvr)}/${route.namespace}/${route.name}`} gvr={route.gvr}
                        namespace={route.namespace} name={route.name} tab={route.tab} />
          )}
        </main>
      </div>
      <div class="notices" aria-live="polite">
        {notices.map((n) => <div key={n.id} class={`notice ${n.level}`} role={n.level === "error" ? "alert" : "status"}>{n.text}</div>)}
      </div>
    </SharedContext.Provider>
  );
}

function NamespacePicker() {
  const { namespace, setNamespace } = useShared();
  const live = useLiveObjects("/api/v1/namespaces");
  const names = live.items.map((n) => n.metadata.name).sort();
  if (namespace && !names.includes(namespace)) names.unshift(namespace);
  return (
    <label class="ns">
      <span>Namespace</span>
      <select aria-label="Namespace" value={namespace} onChange={(e) => setNamespace((e.target as HTMLSelectElement).value)}>
        <option value="">All namespaces</option>
        {names.map((n) => <option key={n} value={n}>{n}</option>)}
      </select>
    </label>
  );
}
