// What every view shares: the chosen namespace ("" for all) and a way to tell the user
// something (an action done, or refused).

import { createContext } from "preact";
import { useContext } from "preact/hooks";

export type Notice = { id: number; text: string; level: "info" | "error" };

export type Shared = {
  namespace: string;
  setNamespace: (ns: string) => void;
  notify: (text: string, level?: Notice["level"]) => void;
  user: string;
};

export const SharedContext = createContext<Shared>({
  namespace: "default", setNamespace: () => undefined, notify: () => undefined, user: "",
});

export const useShared = (): Shared => useContext(SharedContext);
