// Kubernetes quantities ("250m", "64Mi", "123456n") as numbers: cpu in cores, memory in bytes.

const SUFFIXES: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

export function parseQuantity(value: string | undefined): number {
  if (!value) return 0;
  const match = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$/.exec(value.trim());
  if (match === null) return 0;
  return Number(match[1]) * (SUFFIXES[match[2]] ?? 1);
}

export const formatCpu = (cores: number): string =>
  cores >= 1 ? `${cores.toFixed(2)} cores` : `${Math.round(cores * 1000)}m`;

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let n = bytes, i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}
