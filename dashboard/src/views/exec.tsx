// An exec terminal (xterm.js) over the API's WebSocket: `v4.channel.k8s.io` frames (a
// channel byte, then data), the token in the `base64url.bearer.authorization.k8s.io.`
// subprotocol since browsers cannot send headers on WebSockets.

import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { useEffect, useRef, useState } from "preact/hooks";
import { type Obj, bearerProtocol } from "../api";
import { containers } from "./logs";

const STDIN = 0, STDOUT = 1, STDERR = 2, ERROR = 3, RESIZE = 4;

export function ExecTerminal({ path, pod }: { path: string; pod: Obj }) {
  const names = containers(pod);
  const [container, setContainer] = useState(names[0] ?? "");
  const [command, setCommand] = useState("sh");
  const [session, setSession] = useState(0);
  const [state, setState] = useState("connecting");
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (host.current === null) return;
    setState("connecting");
    const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 13 });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host.current);
    fit.fit();
    const query = new URLSearchParams({ container, stdin: "true", stdout: "true", tty: "true" });
    for (const word of command.trim().split(/\s+/)) query.append("command", word);
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}/exec?${query}`;
    const socket = new WebSocket(url, ["v4.channel.k8s.io", bearerProtocol()]);
    socket.binaryType = "arraybuffer";
    const encoder = new TextEncoder();
    const decoder = new TextDecoder();
    const send = (channel: number, data: Uint8Array) => {
      if (socket.readyState !== WebSocket.OPEN) return;
      const frame = new Uint8Array(data.length + 1);
      frame[0] = channel;
      frame.set(data, 1);
      socket.send(frame);
    };
    const resize = () => send(RESIZE, encoder.encode(JSON.stringify({ Width: term.cols, Height: term.rows })));
    socket.onopen = () => { setState("connected"); resize(); term.focus(); };
    socket.onmessage = (event) => {
      const data = new Uint8Array(event.data as ArrayBuffer);
      if (data.length === 0) return;
      if (data[0] === STDOUT || data[0] === STDERR) term.write(data.subarray(1));
      else if (data[0] === ERROR) {
        const status = JSON.parse(decoder.decode(data.subarray(1)) || "{}");
        if (status.status && status.status !== "Success") term.write(`\r\n${status.message ?? "failed"}\r\n`);
      }
    };
    socket.onclose = () => setState("closed");
    socket.onerror = () => setState("failed");
    const input = term.onData((d) => send(STDIN, encoder.encode(d)));
    const resized = term.onResize(resize);
    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(host.current);
    return () => {
      observer.disconnect();
      input.dispose();
      resized.dispose();
      socket.close();
      term.dispose();
    };
  }, [path, container, session]);
  return (
    <div class="exec">
      <form class="filters" onSubmit={(e) => { e.preventDefault(); setSession(session + 1); }}>
        <select aria-label="Container" value={container} onChange={(e) => setContainer((e.target as HTMLSelectElement).value)}>
          {names.map((n) => <option key={n} value={n}>{n}</option>)}
        </select>
        <input aria-label="Command" value={command} onInput={(e) => setCommand((e.target as HTMLInputElement).value)} />
        <button type="submit">Connect</button>
        <span class="state" data-testid="exec-state">{state}</span>
      </form>
      <div class="terminal" ref={host} data-testid="terminal" />
    </div>
  );
}
